//! A safe unpickler for the subset of pickle `torch.save` writes for a state dict (protocol 2, and
//! the framing opcodes of protocol 4). It executes nothing: `GLOBAL` accepts only an allow-list of
//! names, and `REDUCE` only builds dicts (`collections.OrderedDict`) and tensor descriptions
//! (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`). Any other opcode or global is refused
//! with its name and offset.

use std::collections::HashMap;

/// The element type of a storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
}

impl Dtype {
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            _ => 2,
        }
    }
}

/// The globals a state dict may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    OrderedDict,
    RebuildTensorV2,
    RebuildParameter,
    Storage(Dtype),
}

/// A tensor as the pickle describes it; its bytes are in `data/<key>` of the archive.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorRef {
    pub dtype: Dtype,
    pub key: String,
    /// Elements in the storage.
    pub storage_len: u64,
    /// Offset into the storage, in elements.
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(Global),
    Storage { dtype: Dtype, key: String, len: u64 },
    Tensor(TensorRef),
}

fn allowed_global(module: &str, name: &str) -> Option<Global> {
    Some(match (module, name) {
        ("collections", "OrderedDict") => Global::OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2") => Global::RebuildTensorV2,
        ("torch._utils", "_rebuild_parameter") => Global::RebuildParameter,
        ("torch", "FloatStorage") => Global::Storage(Dtype::F32),
        ("torch", "HalfStorage") => Global::Storage(Dtype::F16),
        ("torch", "BFloat16Storage") => Global::Storage(Dtype::BF16),
        _ => return None,
    })
}

/// What went wrong, with the offset of the opcode in the pickle.
fn err(at: usize, what: String) -> String {
    format!("data.pkl offset {at}: {what}")
}

enum Item {
    Mark,
    V(Value),
}

struct Machine<'a> {
    b: &'a [u8],
    pos: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, Value>,
}

impl Machine<'_> {
    fn take(&mut self, n: usize, at: usize) -> Result<&[u8], String> {
        let s = self.b.get(self.pos..self.pos.saturating_add(n)).ok_or_else(|| err(at, format!("truncated: opcode needs {n} more bytes, {} left", self.b.len() - self.pos)))?;
        self.pos += n;
        Ok(s)
    }
    fn uint(&mut self, n: usize, at: usize) -> Result<u64, String> {
        Ok(self.take(n, at)?.iter().rev().fold(0u64, |a, &x| (a << 8) | x as u64))
    }
    fn line(&mut self, at: usize) -> Result<String, String> {
        let rest = &self.b[self.pos..];
        let n = rest.iter().position(|&c| c == b'\n').ok_or_else(|| err(at, "unterminated GLOBAL name".into()))?;
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }
    fn pop(&mut self, at: usize) -> Result<Value, String> {
        match self.stack.pop() {
            Some(Item::V(v)) => Ok(v),
            Some(Item::Mark) => Err(err(at, "unexpected MARK on the stack".into())),
            None => Err(err(at, "stack underflow".into())),
        }
    }
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>, String> {
        let mut out = Vec::new();
        loop {
            match self.stack.pop() {
                Some(Item::V(v)) => out.push(v),
                Some(Item::Mark) => break,
                None => return Err(err(at, "no MARK on the stack".into())),
            }
        }
        out.reverse();
        Ok(out)
    }
    fn push(&mut self, v: Value) {
        self.stack.push(Item::V(v));
    }
    fn top_dict(&mut self, at: usize) -> Result<&mut Vec<(Value, Value)>, String> {
        match self.stack.last_mut() {
            Some(Item::V(Value::Dict(d))) => Ok(d),
            _ => Err(err(at, "SETITEM(S) target is not a dict".into())),
        }
    }
}

fn int_of(v: &Value, at: usize, what: &str) -> Result<u64, String> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as u64),
        other => Err(err(at, format!("{what} is {other:?}, expected a non-negative int"))),
    }
}

fn ints_of(v: &Value, at: usize, what: &str) -> Result<Vec<u64>, String> {
    match v {
        Value::Tuple(t) => t.iter().map(|x| int_of(x, at, what)).collect(),
        other => Err(err(at, format!("{what} is {other:?}, expected a tuple of ints"))),
    }
}

fn reduce(f: Value, args: Value, at: usize) -> Result<Value, String> {
    let Value::Tuple(args) = args else { return Err(err(at, format!("REDUCE arguments are {args:?}, expected a tuple"))) };
    match f {
        Value::Global(Global::OrderedDict) if args.is_empty() => Ok(Value::Dict(Vec::new())),
        Value::Global(Global::RebuildTensorV2) if args.len() >= 4 => {
            let Value::Storage { dtype, key, len } = &args[0] else {
                return Err(err(at, format!("_rebuild_tensor_v2's storage is {:?}, expected a persistent storage", args[0])));
            };
            Ok(Value::Tensor(TensorRef {
                dtype: *dtype,
                key: key.clone(),
                storage_len: *len,
                offset: int_of(&args[1], at, "storage offset")?,
                shape: ints_of(&args[2], at, "tensor size")?,
                stride: ints_of(&args[3], at, "tensor stride")?,
            }))
        }
        Value::Global(Global::RebuildParameter) if !args.is_empty() => Ok(args.into_iter().next().unwrap()),
        f => Err(err(at, format!("REDUCE of {f:?} with {} arguments is not allowed", args.len()))),
    }
}

/// The object `bytes` pickle, or why it cannot be read safely.
pub fn unpickle(bytes: &[u8]) -> Result<Value, String> {
    let mut m = Machine { b: bytes, pos: 0, stack: Vec::new(), memo: HashMap::new() };
    loop {
        let at = m.pos;
        let op = *bytes.get(at).ok_or_else(|| err(at, "pickle ends without STOP".into()))?;
        m.pos += 1;
        match op {
            0x80 => {
                let p = m.uint(1, at)?;
                if p > 5 {
                    return Err(err(at, format!("pickle protocol {p}, expected 2 to 5")));
                }
            }
            0x95 => {
                m.uint(8, at)?; // FRAME: a length hint only
            }
            b'.' => return m.pop(at),
            b'}' => m.push(Value::Dict(Vec::new())),
            b']' => m.push(Value::List(Vec::new())),
            b')' => m.push(Value::Tuple(Vec::new())),
            b'(' => m.stack.push(Item::Mark),
            b'N' => m.push(Value::None),
            0x88 => m.push(Value::Bool(true)),
            0x89 => m.push(Value::Bool(false)),
            b'K' => {
                let v = m.uint(1, at)?;
                m.push(Value::Int(v as i64));
            }
            b'M' => {
                let v = m.uint(2, at)?;
                m.push(Value::Int(v as i64));
            }
            b'J' => {
                let v = m.uint(4, at)? as u32 as i32;
                m.push(Value::Int(v as i64));
            }
            0x8a => {
                let n = m.uint(1, at)? as usize;
                if n > 8 {
                    return Err(err(at, format!("LONG1 of {n} bytes does not fit 64 bits")));
                }
                let raw = m.take(n, at)?;
                let mut v = raw.iter().rev().fold(0i64, |a, &x| (a << 8) | x as i64);
                if n > 0 && n < 8 && raw[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                m.push(Value::Int(v));
            }
            b'X' | 0x8c | b'T' | b'U' => {
                let n = match op {
                    b'X' | b'T' => m.uint(4, at)?,
                    _ => m.uint(1, at)?,
                } as usize;
                let s = String::from_utf8_lossy(m.take(n, at)?).into_owned();
                m.push(Value::Str(s));
            }
            b't' => {
                let items = m.pop_mark(at)?;
                m.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = (0..n).map(|_| m.pop(at)).collect::<Result<Vec<_>, _>>()?;
                items.reverse();
                m.push(Value::Tuple(items));
            }
            b'q' | b'r' | 0x94 => {
                let id = match op {
                    b'q' => m.uint(1, at)?,
                    b'r' => m.uint(4, at)?,
                    _ => m.memo.len() as u64,
                } as u32;
                let top = match m.stack.last() {
                    Some(Item::V(v)) => v.clone(),
                    _ => return Err(err(at, "memo store with no value on the stack".into())),
                };
                m.memo.insert(id, top);
            }
            b'h' | b'j' => {
                let id = if op == b'h' { m.uint(1, at)? } else { m.uint(4, at)? } as u32;
                let v = m.memo.get(&id).cloned().ok_or_else(|| err(at, format!("memo entry {id} was never stored")))?;
                m.push(v);
            }
            b'c' | 0x93 => {
                let (module, name) = if op == b'c' {
                    (m.line(at)?, m.line(at)?)
                } else {
                    let name = m.pop(at)?;
                    let module = m.pop(at)?;
                    match (module, name) {
                        (Value::Str(a), Value::Str(b)) => (a, b),
                        _ => return Err(err(at, "STACK_GLOBAL needs two strings".into())),
                    }
                };
                let g = allowed_global(&module, &name).ok_or_else(|| {
                    err(at, format!("global '{module}.{name}' is not allowed (a state dict names only OrderedDict, torch._utils._rebuild_tensor_v2/_rebuild_parameter and Float/Half/BFloat16Storage)"))
                })?;
                m.push(Value::Global(g));
            }
            b'Q' => {
                // ('storage', <storage class>, key, location, numel)
                let pid = m.pop(at)?;
                let storage = match &pid {
                    Value::Tuple(t) if t.len() == 5 && t[0] == Value::Str("storage".into()) => match (&t[1], &t[2], &t[4]) {
                        (Value::Global(Global::Storage(dtype)), Value::Str(key), Value::Int(n)) if *n >= 0 => {
                            Value::Storage { dtype: *dtype, key: key.clone(), len: *n as u64 }
                        }
                        _ => return Err(err(at, format!("persistent id {pid:?} is not a float32/float16/bfloat16 storage"))),
                    },
                    _ => return Err(err(at, format!("persistent id {pid:?} is not ('storage', class, key, location, numel)"))),
                };
                m.push(storage);
            }
            b'R' => {
                let args = m.pop(at)?;
                let f = m.pop(at)?;
                let v = reduce(f, args, at)?;
                m.push(v);
            }
            b'b' => {
                // BUILD: OrderedDict's state is its `_metadata` attribute, which nothing here needs.
                m.pop(at)?;
                if !matches!(m.stack.last(), Some(Item::V(Value::Dict(_)))) {
                    return Err(err(at, "BUILD on something other than a dict".into()));
                }
            }
            b's' => {
                let v = m.pop(at)?;
                let k = m.pop(at)?;
                m.top_dict(at)?.push((k, v));
            }
            b'u' => {
                let items = m.pop_mark(at)?;
                if items.len() % 2 != 0 {
                    return Err(err(at, format!("SETITEMS with an odd number ({}) of keys and values", items.len())));
                }
                let d = m.top_dict(at)?;
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    d.push((k, v));
                }
            }
            b'a' | b'e' => {
                let items = if op == b'a' { vec![m.pop(at)?] } else { m.pop_mark(at)? };
                match m.stack.last_mut() {
                    Some(Item::V(Value::List(l))) => l.extend(items),
                    _ => return Err(err(at, "APPEND(S) target is not a list".into())),
                }
            }
            other => return Err(err(at, format!("opcode 0x{other:02x} ({:?}) is not allowed in a state dict", other as char))),
        }
    }
}
