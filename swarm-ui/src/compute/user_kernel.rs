//! A user's WebAssembly kernel inside a compute worker. Each module is compiled once per
//! worker and kept by its name; each task runs in a fresh instance made with an empty
//! import object, so the kernel can reach nothing but the input it is given (the worker's
//! own `fetch` and sockets are out of its reach: it imports nothing). The worker is a
//! separate thread from the page, which holds the keys.
//!
//! The time limit is not here: the pool terminates a worker still running a task at its
//! limit (`Scheduler::time_limit`). The memory limit is in the module itself (the
//! coordinator writes the maximum in at upload), so `memory.grow` fails at the same size
//! as under wasmtime.

use std::cell::RefCell;
use std::collections::HashMap;

use js_sys::{Function, Object, Reflect, Uint8Array, WebAssembly};
use ostrich_protocol::{ModuleBytes, ModuleHash, Task, TaskKind, TaskOutput, unpack_output};
use wasm_bindgen::{JsCast, JsValue};

use super::js;

thread_local! {
    /// This worker's compiled modules.
    static MODULES: RefCell<HashMap<ModuleHash, WebAssembly::Module>> = RefCell::new(HashMap::new());
}

/// Runs a wasm task; `bytes` comes with a worker's first task of a module.
pub fn run(task: &Task, bytes: Option<ModuleBytes>) -> Result<TaskOutput, String> {
    let TaskKind::Wasm { module, input, max_output_bytes, .. } = &task.kind else {
        return Err("not a user kernel's task".into());
    };
    let compiled = match bytes {
        Some(ModuleBytes(bytes)) => {
            let compiled = WebAssembly::Module::new(&Uint8Array::from(bytes.as_slice()))
                .map_err(|e| format!("the module does not compile: {}", js::reason(&e)))?;
            MODULES.with(|m| m.borrow_mut().insert(*module, compiled.clone()));
            compiled
        }
        None => MODULES
            .with(|m| m.borrow().get(module).cloned())
            .ok_or_else(|| format!("this worker was not given module {module}"))?,
    };
    call(&compiled, input, *max_output_bytes).map(|output| TaskOutput::Wasm { output })
}

/// One call into a fresh instance: `alloc`, the input copied in, `run`, the output copied
/// out. A trap (a JavaScript exception) is the reason the task failed.
fn call(module: &WebAssembly::Module, input: &[u8], max_output: u32) -> Result<Vec<u8>, String> {
    let trap = |e: JsValue| format!("the kernel trapped: {}", js::reason(&e));
    let instance = WebAssembly::Instance::new(module, &Object::new()).map_err(trap)?;
    let exports = instance.exports();
    let export = |name: &str| Reflect::get(&exports, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
    let memory: WebAssembly::Memory = export("memory").dyn_into().map_err(|_| "no exported memory".to_string())?;
    let alloc: Function = export("alloc").dyn_into().map_err(|_| "no `alloc` export".to_string())?;
    let run: Function = export("run").dyn_into().map_err(|_| "no `run` export".to_string())?;

    let len = JsValue::from(input.len() as i32);
    let ptr = alloc.call1(&JsValue::NULL, &len).map_err(trap)?.as_f64().ok_or("`alloc` returned no number")? as i32;
    let ptr = ptr as u32;
    // The buffer is read after `alloc`, which may have grown the memory.
    let buffer = Uint8Array::new(&memory.buffer());
    if u64::from(ptr) + input.len() as u64 > u64::from(buffer.length()) {
        return Err(format!("the kernel broke the ABI: alloc({}) returned {ptr}, outside its memory", input.len()));
    }
    buffer.subarray(ptr, ptr + input.len() as u32).copy_from(input);
    let packed = run.call2(&JsValue::NULL, &JsValue::from(ptr as i32), &len).map_err(trap)?;
    let packed = i64::try_from(packed).map_err(|_| "`run` returned no i64".to_string())?;
    let (out_ptr, out_len) = unpack_output(packed);
    if out_len > max_output {
        return Err(format!("the output is {out_len} bytes, over the job's limit of {max_output} bytes"));
    }
    let buffer = Uint8Array::new(&memory.buffer());
    if u64::from(out_ptr) + u64::from(out_len) > u64::from(buffer.length()) {
        return Err(format!("the kernel broke the ABI: run returned {out_len} bytes at {out_ptr}, outside its memory"));
    }
    Ok(buffer.subarray(out_ptr, out_ptr + out_len).to_vec())
}
