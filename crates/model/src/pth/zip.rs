//! The part of the zip format `torch.save` writes: stored (uncompressed) entries, with zip64 records
//! for large files. Compressed entries are refused (torch never writes them). CRCs are not checked:
//! tensor data is checked for size, not content.

use std::collections::HashMap;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// Byte ranges of the entries of a zip archive held in memory.
pub struct ZipIndex {
    pub entries: HashMap<String, std::ops::Range<usize>>,
}

fn u16_at(b: &[u8], o: usize) -> Option<u64> {
    b.get(o..o + 2).map(|s| u16::from_le_bytes([s[0], s[1]]) as u64)
}
fn u32_at(b: &[u8], o: usize) -> Option<u64> {
    b.get(o..o + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as u64)
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    b.get(o..o + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()))
}

/// Whether `bytes` start like a zip archive.
pub fn has_zip_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

impl ZipIndex {
    /// Reads the central directory; errors are plain sentences for the caller to prefix with the path.
    pub fn parse(b: &[u8]) -> Result<ZipIndex, String> {
        if !has_zip_magic(b) {
            let head = &b[..b.len().min(4)];
            return Err(format!("not a zip archive (starts with {head:02x?}, expected 50 4b 03 04 \"PK\"); PyTorch .pth files are zip archives since torch 1.6"));
        }
        let trunc = |what: &str, at: u64| format!("truncated zip: {what} at offset {at} runs past the end ({} bytes)", b.len());
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        let lo = b.len().saturating_sub(22 + 65535);
        let eocd = (lo..=b.len().saturating_sub(22)).rev().find(|&o| u32_at(b, o) == Some(EOCD_SIG as u64))
            .ok_or_else(|| "zip has no end-of-central-directory record (truncated?)".to_string())?;
        let mut count = u16_at(b, eocd + 10).unwrap();
        let mut cd_off = u32_at(b, eocd + 16).unwrap();
        if count == 0xFFFF || cd_off == 0xFFFF_FFFF {
            let loc = eocd.checked_sub(20).filter(|&o| u32_at(b, o) == Some(ZIP64_LOCATOR_SIG as u64))
                .ok_or_else(|| "zip needs zip64 records but has no zip64 locator".to_string())?;
            let rec = u64_at(b, loc + 8).unwrap();
            let r = usize::try_from(rec).map_err(|_| trunc("zip64 record", rec))?;
            if u32_at(b, r) != Some(ZIP64_EOCD_SIG as u64) {
                return Err(format!("zip64 end-of-central-directory record expected at offset {rec}, not found"));
            }
            count = u64_at(b, r + 32).ok_or_else(|| trunc("zip64 record", rec))?;
            cd_off = u64_at(b, r + 48).ok_or_else(|| trunc("zip64 record", rec))?;
        }
        let mut entries = HashMap::new();
        let mut o = usize::try_from(cd_off).map_err(|_| trunc("central directory", cd_off))?;
        for i in 0..count {
            if u32_at(b, o) != Some(CENTRAL_SIG as u64) {
                return Err(format!("zip central directory entry {i} expected at offset {o}, not found"));
            }
            let need = |v: Option<u64>| v.ok_or_else(|| trunc("central directory entry", o as u64));
            let method = need(u16_at(b, o + 10))?;
            let mut csize = need(u32_at(b, o + 20))?;
            let mut usize_ = need(u32_at(b, o + 24))?;
            let (nl, el, cl) = (need(u16_at(b, o + 28))? as usize, need(u16_at(b, o + 30))? as usize, need(u16_at(b, o + 32))? as usize);
            let mut local = need(u32_at(b, o + 42))?;
            let name_bytes = b.get(o + 46..o + 46 + nl).ok_or_else(|| trunc("entry name", o as u64))?;
            let name = String::from_utf8_lossy(name_bytes).into_owned();
            let extra = b.get(o + 46 + nl..o + 46 + nl + el).ok_or_else(|| trunc("entry extra field", o as u64))?;
            // zip64 extra field: the 64-bit values of the fields saturated above, in this order.
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, len) = (u16_at(extra, e).unwrap(), u16_at(extra, e + 2).unwrap() as usize);
                if id == 1 {
                    let mut p = e + 4;
                    for field in [&mut usize_, &mut csize, &mut local] {
                        if *field == 0xFFFF_FFFF {
                            *field = u64_at(extra, p).ok_or_else(|| format!("zip entry '{name}' has a short zip64 field"))?;
                            p += 8;
                        }
                    }
                }
                e += 4 + len;
            }
            if method != 0 {
                return Err(format!("zip entry '{name}' is compressed (method {method}); torch.save writes stored entries only"));
            }
            if csize != usize_ {
                return Err(format!("zip entry '{name}' is stored but its sizes differ ({csize} vs {usize_})"));
            }
            let l = usize::try_from(local).map_err(|_| trunc("local header", local))?;
            if u32_at(b, l) != Some(LOCAL_SIG as u64) {
                return Err(format!("zip entry '{name}': local header expected at offset {l}, not found"));
            }
            let lh = |v: Option<u64>| v.ok_or_else(|| trunc("local header", local));
            let start = l + 30 + lh(u16_at(b, l + 26))? as usize + lh(u16_at(b, l + 28))? as usize;
            let end = (start as u64).checked_add(csize).filter(|&e| e <= b.len() as u64).ok_or_else(|| {
                format!("zip entry '{name}' needs {csize} bytes at offset {start}, file has {}", b.len().saturating_sub(start))
            })?;
            entries.insert(name, start..end as usize);
            o += 46 + nl + el + cl;
        }
        Ok(ZipIndex { entries })
    }
}
