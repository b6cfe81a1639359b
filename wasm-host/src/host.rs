//! The wasmtime runtime, configured for determinism: NaN canonicalisation on, relaxed SIMD
//! and threads off, memory capped by the store's limits (and by the maximum written into
//! every stored module). Each call gets a fresh instance, so no state leaks from one task
//! to the next.
//!
//! Two flavours share the code: [`Host::worker`] stops a task at its time limit by epoch
//! interruption (a ticker thread advances the epoch every [`TICK`]); [`Host::verifier`],
//! on the coordinator, runs `verify` under fuel, so the cost of a check is bounded by a
//! count of instructions whatever the machine's load.

use std::{
    sync::{Mutex, Once, PoisonError},
    thread,
    time::Duration,
};

use ostrich_protocol::{MAX_MEMORY_PAGES, WASM_PAGE_BYTES, unpack_output};
use wasmtime::{
    Config, Engine, EngineWeak, Instance, Memory, Module, OptLevel, Store, StoreLimits, StoreLimitsBuilder, Trap,
    TypedFunc,
};

/// How often the epoch advances on a worker host: the granularity of time limits.
pub const TICK: Duration = Duration::from_millis(5);
/// The fuel one `verify` call may burn on the coordinator (about 50 ms of work): a check
/// is meant to be cheap, like Freivalds'.
pub const VERIFY_FUEL: u64 = 100_000_000;
/// The wasm stack a call may use; deeper recursion traps.
pub const MAX_WASM_STACK: usize = 1 << 20;

/// Why a kernel call failed; each is reported with the task, as its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    /// The module does not compile (it was validated, so this is rare).
    #[error("the module does not compile: {0}")]
    Compile(String),
    /// The task ran past its time limit and was interrupted.
    #[error("the task ran past its time limit of {0} ms")]
    TimeLimit(u32),
    /// `verify` burned all its fuel.
    #[error("verify ran past its budget of {VERIFY_FUEL} instructions")]
    OutOfFuel,
    /// The kernel trapped (out-of-bounds access, unreachable, stack overflow, …).
    #[error("the kernel trapped: {0}")]
    Trap(String),
    /// The kernel broke the ABI (a pointer outside its memory, a missing export).
    #[error("the kernel broke the ABI: {0}")]
    Abi(String),
    /// The output is over the job's limit.
    #[error("the output is {len} bytes, over the job's limit of {limit} bytes")]
    OutputTooLarge {
        /// Bytes returned.
        len: u64,
        /// The limit.
        limit: u32,
    },
}

/// A compiled module, ready to instantiate any number of times.
#[derive(Clone)]
pub struct Kernel {
    module: Module,
}

/// What stops a call.
#[derive(Debug, Clone, Copy)]
enum Budget {
    /// Epoch ticks (time).
    Epoch(u64),
    /// Instructions (fuel).
    Fuel(u64),
}

/// A wasmtime engine with the project's settings.
#[derive(Clone)]
pub struct Host {
    engine: Engine,
}

impl Host {
    /// The host a native worker runs tasks on: time limits by epoch interruption.
    pub fn worker() -> Result<Self, KernelError> {
        let mut config = base_config();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| KernelError::Compile(e.to_string()))?;
        start_ticker(&engine);
        Ok(Self { engine })
    }

    /// The host the coordinator runs `verify` on: bounded by fuel.
    pub fn verifier() -> Result<Self, KernelError> {
        let mut config = base_config();
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| KernelError::Compile(e.to_string()))?;
        Ok(Self { engine })
    }

    /// Compiles a module (validated at upload); about 0.2 s for 4 MiB, so callers cache it.
    pub fn compile(&self, bytes: &[u8]) -> Result<Kernel, KernelError> {
        Module::new(&self.engine, bytes)
            .map(|module| Kernel { module })
            .map_err(|e| KernelError::Compile(e.to_string()))
    }

    /// Runs `run` on `input` in a fresh instance; stops it after `time_limit_ms`. Only a
    /// worker host can time a call.
    pub fn run(
        &self,
        kernel: &Kernel,
        input: &[u8],
        time_limit_ms: u32,
        max_output: u32,
    ) -> Result<Vec<u8>, KernelError> {
        let ticks = u64::from(time_limit_ms).div_ceil(TICK.as_millis() as u64) + 1;
        let mut call = Call::new(self, kernel, Budget::Epoch(ticks))?;
        let result = call.run(input, max_output);
        result.map_err(|e| call.explain(e, time_limit_ms))
    }

    /// Runs `verify(input, output)` in a fresh instance under [`VERIFY_FUEL`]; true when the
    /// kernel accepts the output. Only a verifier host can run it.
    pub fn verify(&self, kernel: &Kernel, input: &[u8], output: &[u8]) -> Result<bool, KernelError> {
        let mut call = Call::new(self, kernel, Budget::Fuel(VERIFY_FUEL))?;
        let result = call.verify(input, output);
        result.map_err(|e| call.explain(e, 0))
    }
}

/// Threads are off because wasmtime is built without its `threads` feature.
fn base_config() -> Config {
    let mut config = Config::new();
    config
        // NaNs are canonicalised in the module itself at upload (`canonical`), where their
        // bits could be seen, which every host then runs; Cranelift's own pass, after every
        // float operation, would only make kernels 2-3× slower.
        .cranelift_nan_canonicalization(false)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_relaxed_simd(false)
        .wasm_memory64(false)
        .wasm_simd(true)
        .max_wasm_stack(MAX_WASM_STACK);
    config
}

/// Advances the engine's epoch every [`TICK`] while it lives. One thread serves every
/// worker host of the process; it holds the engines weakly.
fn start_ticker(engine: &Engine) {
    static ENGINES: Mutex<Vec<EngineWeak>> = Mutex::new(Vec::new());
    static TICKER: Once = Once::new();
    let lock = || ENGINES.lock().unwrap_or_else(PoisonError::into_inner);
    lock().push(engine.weak());
    TICKER.call_once(|| {
        let spawned = thread::Builder::new().name("ostrich-wasm-epoch".into()).spawn(move || {
            loop {
                thread::sleep(TICK);
                lock().retain(|weak| weak.upgrade().inspect(Engine::increment_epoch).is_some());
            }
        });
        if let Err(error) = spawned {
            log::error!("cannot start the wasm epoch ticker ({error}); time limits will not apply");
        }
    });
}

/// One call into a fresh instance.
struct Call {
    store: Store<StoreLimits>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    instance: Instance,
}

impl Call {
    fn new(host: &Host, kernel: &Kernel, budget: Budget) -> Result<Self, KernelError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size((MAX_MEMORY_PAGES * WASM_PAGE_BYTES) as usize)
            .instances(1)
            .memories(1)
            .tables(4)
            .table_elements(1 << 20)
            .build();
        let mut store = Store::new(&host.engine, limits);
        store.limiter(|limits| limits);
        match budget {
            Budget::Epoch(ticks) => {
                store.set_epoch_deadline(ticks);
                store.epoch_deadline_trap();
            }
            Budget::Fuel(fuel) => store.set_fuel(fuel).map_err(|e| KernelError::Abi(e.to_string()))?,
        }
        let instance = Instance::new(&mut store, &kernel.module, &[]).map_err(|e| KernelError::Trap(root(&e)))?;
        let memory =
            instance.get_memory(&mut store, "memory").ok_or_else(|| KernelError::Abi("no exported memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "alloc")
            .map_err(|e| KernelError::Abi(format!("alloc: {e}")))?;
        Ok(Self { store, memory, alloc, instance })
    }

    /// Copies `bytes` into a buffer the kernel allocates; answers its pointer.
    fn put(&mut self, bytes: &[u8]) -> Result<i32, wasmtime::Error> {
        let ptr = self.alloc.call(&mut self.store, bytes.len() as i32)?;
        self.memory
            .write(&mut self.store, ptr as u32 as usize, bytes)
            .map_err(|_| abi(format!("alloc({}) returned {ptr}, outside the kernel's memory", bytes.len())))?;
        Ok(ptr)
    }

    fn run(&mut self, input: &[u8], max_output: u32) -> Result<Vec<u8>, wasmtime::Error> {
        let run = self.instance.get_typed_func::<(i32, i32), i64>(&mut self.store, "run")?;
        let ptr = self.put(input)?;
        let (out_ptr, out_len) = unpack_output(run.call(&mut self.store, (ptr, input.len() as i32))?);
        if out_len > max_output {
            return Err(wasmtime::Error::new(KernelError::OutputTooLarge { len: out_len.into(), limit: max_output }));
        }
        let data = self.memory.data(&self.store);
        let range = out_ptr as usize..out_ptr as usize + out_len as usize;
        data.get(range)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| abi(format!("run returned {out_len} bytes at {out_ptr}, outside the kernel's memory")))
    }

    fn verify(&mut self, input: &[u8], output: &[u8]) -> Result<bool, wasmtime::Error> {
        let verify = self.instance.get_typed_func::<(i32, i32, i32, i32), i32>(&mut self.store, "verify")?;
        let in_ptr = self.put(input)?;
        let out_ptr = self.put(output)?;
        let verdict = verify.call(&mut self.store, (in_ptr, input.len() as i32, out_ptr, output.len() as i32))?;
        Ok(verdict != 0)
    }

    /// Turns wasmtime's error into the reason a task failed.
    fn explain(&self, error: wasmtime::Error, time_limit_ms: u32) -> KernelError {
        if let Some(kernel) = error.downcast_ref::<KernelError>() {
            return kernel.clone();
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => KernelError::TimeLimit(time_limit_ms),
            Some(Trap::OutOfFuel) => KernelError::OutOfFuel,
            Some(trap) => KernelError::Trap(trap.to_string()),
            None => KernelError::Trap(root(&error)),
        }
    }
}

fn abi(message: String) -> wasmtime::Error {
    wasmtime::Error::new(KernelError::Abi(message))
}

/// The innermost cause of an error, which names what went wrong.
fn root(error: &wasmtime::Error) -> String {
    error.root_cause().to_string()
}
