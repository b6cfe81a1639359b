//! Mandelbrot iteration counts as a PNG image.

use ostrich_kernels::mandelbrot::{View, colorize};

/// Encodes the iteration counts of a whole image as an RGB PNG.
pub fn mandelbrot_png(view: &View, iterations: &[u32]) -> Result<Vec<u8>, png::EncodingError> {
    let mut rgb = Vec::with_capacity(iterations.len() * 3);
    for &count in iterations {
        rgb.extend_from_slice(&colorize(count, view.max_iter));
    }
    let mut file = Vec::new();
    let mut encoder = png::Encoder::new(&mut file, view.width, view.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(file)
}
