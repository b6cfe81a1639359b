//! The WebGPU matrix product: the WGSL shader of [`ostrich_kernels::wgsl`] on whatever
//! adapter `navigator.gpu` gives, on the page or in a worker.
//!
//! [`GpuMatmul::open`] builds the pipeline once; [`GpuMatmul::matmul`] uploads a tile's
//! operands, dispatches the shader, copies the result to a mappable buffer and reads it
//! back. Every WebGPU failure (no adapter, a validation or out-of-memory error caught by an
//! error scope, a rejected `mapAsync`, a lost device) comes back as an `Err`, so the caller
//! can fall back to the CPU kernel.

use js_sys::{Float32Array, Uint32Array};
use ostrich_kernels::wgsl::{MATMUL_WGSL, matmul_dispatch};
use ostrich_protocol::GpuInfo;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{
    Gpu, GpuAdapter, GpuAutoLayoutMode, GpuBindGroupDescriptor, GpuBindGroupEntry, GpuBindGroupLayout, GpuBuffer,
    GpuBufferBinding, GpuBufferDescriptor, GpuComputePipeline, GpuComputePipelineDescriptor, GpuDevice, GpuErrorFilter,
    GpuProgrammableStage, GpuShaderModuleDescriptor, gpu_buffer_usage, gpu_map_mode,
};

use super::js;

/// A WebGPU device with the matmul pipeline built.
pub struct GpuMatmul {
    device: GpuDevice,
    pipeline: GpuComputePipeline,
    layout: GpuBindGroupLayout,
}

impl GpuMatmul {
    /// Opens the adapter and a device and builds the pipeline. `on_lost` is called once if
    /// the device is later lost, with the browser's reason.
    pub async fn open(on_lost: impl FnOnce(String) + 'static) -> Result<(Self, GpuInfo), String> {
        let gpu = js::property(&js::property(&js_sys::global(), "navigator"), "gpu");
        if gpu.is_undefined() || gpu.is_null() {
            return Err("this browser has no navigator.gpu".to_owned());
        }
        let gpu: Gpu = gpu.unchecked_into();
        let adapter = gpu.request_adapter().await.map_err(|err| js::reason(&err))?;
        let adapter = adapter.into_option().ok_or("navigator.gpu offers no adapter")?;
        let info = adapter_info(&adapter);
        let device = adapter.request_device().await.map_err(|err| format!("no device: {}", js::reason(&err)))?;
        let lost = device.lost();
        wasm_bindgen_futures::spawn_local(async move {
            let why = match lost.await {
                Ok(info) => info.message(),
                Err(err) => js::reason(&err),
            };
            on_lost(if why.is_empty() { "the WebGPU device was lost".to_owned() } else { why });
        });

        device.push_error_scope(GpuErrorFilter::Validation);
        let module = device.create_shader_module(&GpuShaderModuleDescriptor::new(MATMUL_WGSL));
        let stage = GpuProgrammableStage::new(&module);
        stage.set_entry_point("main");
        let descriptor = GpuComputePipelineDescriptor::new_with_gpu_auto_layout_mode(GpuAutoLayoutMode::Auto, &stage);
        let pipeline = device.create_compute_pipeline(&descriptor);
        let layout = pipeline.get_bind_group_layout(0);
        if let Some(error) = pop_error(&device).await? {
            device.destroy();
            return Err(format!("the matmul shader was rejected: {error}"));
        }
        Ok((Self { device, pipeline, layout }, info))
    }

    /// Computes `a` (`rows`×`k`) · `b` (`k`×`cols`), row-major, on the GPU. The caller has
    /// checked that the lengths match and that no dimension is 0.
    pub async fn matmul(&self, a: &[f32], b: &[f32], rows: u32, k: u32, cols: u32) -> Result<Vec<f32>, String> {
        let mut buffers = Buffers(Vec::new());
        self.device.push_error_scope(GpuErrorFilter::OutOfMemory);
        self.device.push_error_scope(GpuErrorFilter::Validation);
        let submitted = self.submit(&mut buffers, a, b, [rows, k, cols]);
        // The scopes are popped whatever happened, so they stay balanced.
        let validation = pop_error(&self.device).await;
        let out_of_memory = pop_error(&self.device).await;
        let read = submitted?;
        if let Some(error) = validation? {
            return Err(format!("WebGPU validation error: {error}"));
        }
        if let Some(error) = out_of_memory? {
            return Err(format!("WebGPU out of memory: {error}"));
        }
        read.map_async(gpu_map_mode::READ).await.map_err(|err| format!("mapAsync failed: {}", js::reason(&err)))?;
        let range = read.get_mapped_range().map_err(|err| js::reason(&err))?;
        let c = Float32Array::new(&range).to_vec();
        read.unmap();
        Ok(c)
    }

    /// Uploads the operands, records the dispatch and the copy to a mappable buffer, and
    /// submits them; answers the mappable buffer.
    fn submit(&self, buffers: &mut Buffers, a: &[f32], b: &[f32], dims: [u32; 3]) -> Result<GpuBuffer, String> {
        let [rows, k, cols] = dims;
        let c_bytes = rows.checked_mul(cols).and_then(|n| n.checked_mul(4)).ok_or("the tile is too large")?;
        let queue = self.device.queue();
        let upload = |buffers: &mut Buffers, data: &js_sys::Object, bytes: u32, usage: u32| {
            let buffer = buffers.create(&self.device, bytes, usage | gpu_buffer_usage::COPY_DST)?;
            queue.write_buffer_with_u32_and_buffer_source(&buffer, 0, data).map_err(|err| js::reason(&err))?;
            Ok::<_, String>(buffer)
        };
        let a_buffer = upload(buffers, &Float32Array::new_from_slice(a), byte_len(a)?, gpu_buffer_usage::STORAGE)?;
        let b_buffer = upload(buffers, &Float32Array::new_from_slice(b), byte_len(b)?, gpu_buffer_usage::STORAGE)?;
        let dims = Uint32Array::new_from_slice(&[rows, k, cols, 0]);
        let dims_buffer = upload(buffers, &dims, 16, gpu_buffer_usage::UNIFORM)?;
        let c_buffer = buffers.create(&self.device, c_bytes, gpu_buffer_usage::STORAGE | gpu_buffer_usage::COPY_SRC)?;
        let read = buffers.create(&self.device, c_bytes, gpu_buffer_usage::MAP_READ | gpu_buffer_usage::COPY_DST)?;

        let entries: Vec<GpuBindGroupEntry> = [&a_buffer, &b_buffer, &c_buffer, &dims_buffer]
            .into_iter()
            .zip(0..)
            .map(|(buffer, binding)| {
                GpuBindGroupEntry::new_with_gpu_buffer_binding(binding, &GpuBufferBinding::new(buffer))
            })
            .collect();
        let bind_group = self.device.create_bind_group(&GpuBindGroupDescriptor::new(&entries, &self.layout));
        let encoder = self.device.create_command_encoder();
        let pass = encoder.begin_compute_pass();
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, Some(&bind_group));
        let (x, y) = matmul_dispatch(rows, cols);
        pass.dispatch_workgroups_with_workgroup_count_y(x, y);
        pass.end();
        encoder
            .copy_buffer_to_buffer_with_u32_and_u32_and_u32(&c_buffer, 0, &read, 0, c_bytes)
            .map_err(|err| js::reason(&err))?;
        queue.submit(&[encoder.finish()]);
        Ok(read)
    }
}

impl Drop for GpuMatmul {
    fn drop(&mut self) {
        self.device.destroy();
    }
}

/// The buffers of one product, destroyed together when it ends, however it ends.
struct Buffers(Vec<GpuBuffer>);

impl Buffers {
    fn create(&mut self, device: &GpuDevice, bytes: u32, usage: u32) -> Result<GpuBuffer, String> {
        let buffer = device.create_buffer(&GpuBufferDescriptor::new(bytes, usage)).map_err(|err| js::reason(&err))?;
        self.0.push(buffer.clone());
        Ok(buffer)
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        for buffer in &self.0 {
            buffer.destroy();
        }
    }
}

/// The size of an f32 buffer in bytes, if WebGPU can address it with a u32.
fn byte_len(values: &[f32]) -> Result<u32, String> {
    values.len().checked_mul(4).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| "an operand is too large".to_owned())
}

/// Pops the innermost error scope; answers the error's message, if it caught one.
async fn pop_error(device: &GpuDevice) -> Result<Option<String>, String> {
    let error = device.pop_error_scope().await.map_err(|err| js::reason(&err))?;
    Ok(error.into_option().map(|e| e.message()))
}

/// Describes the adapter as the device reports it. Read through `Reflect`, since older
/// browsers lack `adapter.info` or keep `isFallbackAdapter` on the adapter itself.
fn adapter_info(adapter: &GpuAdapter) -> GpuInfo {
    let adapter: &JsValue = adapter.as_ref();
    let info = js::property(adapter, "info");
    let vendor = js::string_property(&info, "vendor");
    let description = ["description", "architecture", "device"]
        .into_iter()
        .map(|field| js::string_property(&info, field))
        .find(|text| !text.is_empty())
        .unwrap_or_else(|| "WebGPU adapter".to_owned());
    let fallback = js::property(&info, "isFallbackAdapter")
        .as_bool()
        .or_else(|| js::property(adapter, "isFallbackAdapter").as_bool())
        .unwrap_or(false);
    GpuInfo { vendor: if vendor.is_empty() { "unknown".to_owned() } else { vendor }, description, fallback }
}
