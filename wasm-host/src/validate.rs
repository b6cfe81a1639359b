//! Validation at upload: a module is refused, with its cause named, unless it is a core
//! wasm module with no imports, one 32-bit unshared memory within the limit, the ABI's
//! exports with their signatures, and only the deterministic features every runtime has
//! (fixed-width SIMD128 yes; threads, atomics, relaxed SIMD, memory64 no).
//!
//! An accepted module is stored with its memory's maximum set to the limit (or lower, if it
//! declared less), so every runtime refuses `memory.grow` at the same size, and with its
//! NaNs canonicalised ([`crate::canonical`]), so every runtime writes the same bits.

use ostrich_protocol::{MAX_MEMORY_PAGES, MAX_MODULE_BYTES, ModuleHash, WASM_PAGE_BYTES};
use sha2::{Digest, Sha256};
use wasm_encoder::{CodeSection, MemorySection, MemoryType, RawSection};

use crate::canonical;
use wasmparser::{ExternalKind, FuncType, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures, types::Types};

/// The features a kernel may use: the ones Rust, C and AssemblyScript emit by default and
/// every current browser runs, all deterministic. Not threads, relaxed SIMD, memory64,
/// exceptions, GC or tail calls.
const ALLOWED: WasmFeatures = WasmFeatures::MUTABLE_GLOBAL
    .union(WasmFeatures::SATURATING_FLOAT_TO_INT)
    .union(WasmFeatures::SIGN_EXTENSION)
    .union(WasmFeatures::REFERENCE_TYPES)
    .union(WasmFeatures::MULTI_VALUE)
    .union(WasmFeatures::BULK_MEMORY)
    .union(WasmFeatures::SIMD)
    .union(WasmFeatures::FLOATS);

/// Why a module was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModuleError {
    /// Over [`MAX_MODULE_BYTES`].
    #[error("the module is {0} bytes, over the limit of {MAX_MODULE_BYTES} bytes")]
    TooLarge(usize),
    /// Not a core wasm module (a component, or not wasm at all).
    #[error("not a WebAssembly module: {0}")]
    NotWasm(String),
    /// A kernel may import nothing.
    #[error(
        "the module imports `{module}`.`{name}`: a kernel may import nothing, so it can reach nothing but its input"
    )]
    Import {
        /// The import's module name.
        module: String,
        /// The import's field name.
        name: String,
    },
    /// Shared memory or atomic instructions.
    #[error("the module uses threads ({0}): kernels are single-threaded so their results are deterministic")]
    Threads(String),
    /// Relaxed SIMD instructions, whose results differ between CPUs.
    #[error("the module uses relaxed SIMD, whose results differ between machines; fixed-width SIMD128 is allowed")]
    RelaxedSimd,
    /// A 64-bit memory.
    #[error("the module uses memory64; kernels have one 32-bit memory")]
    Memory64,
    /// A memory larger than the limit.
    #[error("the module's memory {what} is {pages} pages ({mib} MiB), over the limit of {MAX_MEMORY_PAGES} pages ({} MiB)", (MAX_MEMORY_PAGES * WASM_PAGE_BYTES) >> 20)]
    MemoryOverLimit {
        /// "minimum" or "maximum".
        what: &'static str,
        /// Pages declared.
        pages: u64,
        /// The same in MiB.
        mib: u64,
    },
    /// An ABI export is absent.
    #[error(
        "the module does not export `{0}` (a kernel exports `memory`, `alloc(len) -> ptr` and `run(ptr, len) -> i64`)"
    )]
    MissingExport(&'static str),
    /// An ABI export has the wrong kind or signature.
    #[error("the export `{name}` must be {expected}")]
    WrongExport {
        /// The export.
        name: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// Any other validation error, as wasmparser words it.
    #[error("invalid module: {0}")]
    Invalid(String),
}

/// A module accepted for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Its name: the SHA-256 of the file as uploaded.
    pub hash: ModuleHash,
    /// The bytes to store and send to devices: the upload with its memory maximum set.
    pub bytes: Vec<u8>,
    /// Whether it exports `verify`, which the coordinator then runs instead of replicating.
    pub has_verify: bool,
}

/// The SHA-256 of a file, as a module's name.
pub fn module_hash(bytes: &[u8]) -> ModuleHash {
    ModuleHash(Sha256::digest(bytes).into())
}

/// Checks an uploaded module and prepares it for storage.
pub fn prepare(upload: &[u8]) -> Result<Prepared, ModuleError> {
    if upload.len() > MAX_MODULE_BYTES {
        return Err(ModuleError::TooLarge(upload.len()));
    }
    check_declarations(upload)?;
    let types = Validator::new_with_features(ALLOWED).validate_all(upload).map_err(|e| classify(e.message()))?;
    let has_verify = check_exports(upload, &types)?;
    let bytes = stored_form(upload, &types)?;
    // The rewrite keeps the module valid; a failure here is a bug of ours, and refusing
    // the module is safer than storing it.
    Validator::new_with_features(ALLOWED).validate_all(&bytes).map_err(|e| {
        ModuleError::Invalid(format!("the NaN-canonicalising rewrite broke the module: {}", e.message()))
    })?;
    Ok(Prepared { hash: module_hash(upload), bytes, has_verify })
}

/// The checks that get a message of their own: imports and the memory's declaration.
fn check_declarations(bytes: &[u8]) -> Result<(), ModuleError> {
    let mut memories = 0;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| ModuleError::NotWasm(e.message().to_string()))? {
            Payload::Version { encoding: wasmparser::Encoding::Component, .. } => {
                return Err(ModuleError::NotWasm("a component, not a core module".into()));
            }
            Payload::ImportSection(reader) => {
                // The first import is refused; a shared memory gets the more telling reason.
                if let Some(import) = reader.into_imports().next() {
                    let import = import.map_err(|e| ModuleError::NotWasm(e.message().to_string()))?;
                    if let TypeRef::Memory(memory) = import.ty
                        && memory.shared
                    {
                        return Err(ModuleError::Threads("an imported shared memory".into()));
                    }
                    return Err(ModuleError::Import {
                        module: import.module.to_string(),
                        name: import.name.to_string(),
                    });
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| ModuleError::NotWasm(e.message().to_string()))?;
                    memories += 1;
                    if memory.shared {
                        return Err(ModuleError::Threads("a shared memory".into()));
                    }
                    if memory.memory64 {
                        return Err(ModuleError::Memory64);
                    }
                    for (what, pages) in [("minimum", Some(memory.initial)), ("maximum", memory.maximum)] {
                        if let Some(pages) = pages.filter(|&p| p > MAX_MEMORY_PAGES) {
                            let mib = pages.saturating_mul(WASM_PAGE_BYTES) >> 20;
                            return Err(ModuleError::MemoryOverLimit { what, pages, mib });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if memories > 1 {
        return Err(ModuleError::Invalid(format!("{memories} memories; a kernel has one")));
    }
    Ok(())
}

/// Names the feature behind a validation error where it is one a kernel may not use.
fn classify(message: &str) -> ModuleError {
    let lower = message.to_lowercase();
    if lower.contains("relaxed simd") {
        ModuleError::RelaxedSimd
    } else if lower.contains("threads") || lower.contains("shared") || lower.contains("atomic") {
        ModuleError::Threads(message.to_string())
    } else if lower.contains("memory64") {
        ModuleError::Memory64
    } else {
        ModuleError::Invalid(message.to_string())
    }
}

/// Checks the ABI's exports; answers whether `verify` is one of them.
fn check_exports(bytes: &[u8], types: &Types) -> Result<bool, ModuleError> {
    let mut found: Vec<(String, ExternalKind, u32)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        if let Ok(Payload::ExportSection(reader)) = payload {
            for export in reader.into_iter().flatten() {
                found.push((export.name.to_string(), export.kind, export.index));
            }
        }
    }
    let lookup = |name: &str| found.iter().find(|(n, _, _)| n == name).map(|(_, kind, index)| (*kind, *index));
    match lookup("memory") {
        None => return Err(ModuleError::MissingExport("memory")),
        Some((ExternalKind::Memory, _)) => {}
        Some(_) => return Err(ModuleError::WrongExport { name: "memory", expected: "the module's memory" }),
    }
    let types = types.as_ref();
    let signature = |index: u32| -> &FuncType { types[types.core_function_at(index)].unwrap_func() };
    let check = |name: &'static str, params: &[ValType], results: &[ValType], expected: &'static str| match lookup(name)
    {
        None => Err(ModuleError::MissingExport(name)),
        Some((ExternalKind::Func, index))
            if signature(index).params() == params && signature(index).results() == results =>
        {
            Ok(())
        }
        Some(_) => Err(ModuleError::WrongExport { name, expected }),
    };
    use ValType::{I32, I64};
    check("alloc", &[I32], &[I32], "a function (len: i32) -> i32")?;
    check("run", &[I32, I32], &[I64], "a function (ptr: i32, len: i32) -> i64")?;
    if lookup("verify").is_none() {
        return Ok(false);
    }
    check("verify", &[I32, I32, I32, I32], &[I32], "a function (in_ptr, in_len, out_ptr, out_len: i32) -> i32")?;
    Ok(true)
}

/// The module as stored: its memory's maximum set to [`MAX_MEMORY_PAGES`] (kept if lower),
/// every function rewritten to canonicalise NaNs where their bits could be seen (see
/// [`crate::canonical`]), custom sections other than `name` dropped (debug info would point
/// at the old code offsets), and every other section copied byte for byte. `types` are the
/// validator's, for each function's parameter count (a kernel imports no function, so its
/// functions are numbered as its code section lists them).
fn stored_form(bytes: &[u8], types: &Types) -> Result<Vec<u8>, ModuleError> {
    let broken = |e: wasmparser::BinaryReaderError| ModuleError::NotWasm(e.message().to_string());
    let mut module = wasm_encoder::Module::new();
    let mut code: Option<(CodeSection, u32)> = None;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(broken)?;
        match &payload {
            Payload::MemorySection(reader) => {
                let mut section = MemorySection::new();
                for memory in reader.clone() {
                    let memory = memory.map_err(broken)?;
                    section.memory(MemoryType {
                        minimum: memory.initial,
                        maximum: Some(memory.maximum.unwrap_or(MAX_MEMORY_PAGES).min(MAX_MEMORY_PAGES)),
                        memory64: false,
                        shared: false,
                        page_size_log2: memory.page_size_log2,
                    });
                }
                module.section(&section);
                continue;
            }
            Payload::CodeSectionStart { count, .. } => {
                code = Some((CodeSection::new(), *count));
                continue;
            }
            Payload::CodeSectionEntry(body) => {
                let Some((section, remaining)) = code.as_mut() else { continue };
                let params = types[types.as_ref().core_function_at(section.len())].unwrap_func().params().len();
                section.function(&canonical::function(body, params as u32).map_err(ModuleError::Invalid)?);
                *remaining -= 1;
                if *remaining == 0 {
                    module.section(&*section);
                    code = None;
                }
                continue;
            }
            Payload::CustomSection(custom) if custom.name() != "name" => continue,
            _ => {}
        }
        if let Some((id, range)) = payload.as_section() {
            module.section(&RawSection { id, data: &bytes[range] });
        }
    }
    Ok(module.finish())
}
