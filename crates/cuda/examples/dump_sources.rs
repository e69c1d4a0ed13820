//! Writes the full text NVRTC compiles for every program into a directory (for offline inspection
//! with other tools, e.g. ptxas register reports). Usage: dump_sources DIR
fn main() {
    let dir = std::env::args().nth(1).expect("usage: dump_sources DIR");
    std::fs::create_dir_all(&dir).expect("create the directory");
    for p in cuda::nvrtc::programs() {
        let name = p.label().replace(['[', ']'], "_");
        std::fs::write(format!("{dir}/{name}"), p.full_source()).expect("write a source");
    }
}
