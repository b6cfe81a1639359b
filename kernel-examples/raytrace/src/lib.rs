//! A ray tracer that renders an image in square tiles: spheres on a checkered floor, one
//! light with shadows, mirror reflections and jittered antialiasing, in plain f64
//! arithmetic and the SDK's exactly rounded square root and floor, so every target gives
//! the same pixels. The client assembles the
//! tiles ([`assemble`]) and writes a PNG.
//!
//! Input (a range task): the tile's index (row-major over the tile grid), then
//! [`Frame::to_args`]. Output: the tile's pixels, RGB8 row-major, w×h×3 bytes.

use ostrich_kernel_sdk::{SplitMix64, math, range_task};

/// The image and its tiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Edge of a square tile; edge tiles may be smaller.
    pub tile: u32,
    /// Rays per pixel.
    pub samples: u32,
}

impl Frame {
    /// The job's shared arguments: 16 little-endian bytes.
    pub fn to_args(&self) -> Vec<u8> {
        [self.width, self.height, self.tile, self.samples].iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads [`Self::to_args`] back; `None` for a degenerate frame.
    pub fn from_args(args: &[u8]) -> Option<Self> {
        let mut values = args.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()));
        let frame =
            Self { width: values.next()?, height: values.next()?, tile: values.next()?, samples: values.next()? };
        (frame.width > 0 && frame.height > 0 && frame.tile > 0 && frame.samples > 0).then_some(frame)
    }

    /// Tiles across and down.
    pub fn grid(&self) -> (u32, u32) {
        (self.width.div_ceil(self.tile), self.height.div_ceil(self.tile))
    }

    /// Tasks in the job: one per tile.
    pub fn tiles(&self) -> u32 {
        let (across, down) = self.grid();
        across * down
    }

    /// The pixel rectangle (x, y, w, h) of tile `index`.
    pub fn rect(&self, index: u32) -> Option<(u32, u32, u32, u32)> {
        let (across, _) = self.grid();
        (index < self.tiles()).then(|| {
            let (x, y) = ((index % across) * self.tile, (index / across) * self.tile);
            (x, y, self.tile.min(self.width - x), self.tile.min(self.height - y))
        })
    }
}

#[derive(Clone, Copy)]
struct V(f64, f64, f64);

impl V {
    fn add(self, o: V) -> V {
        V(self.0 + o.0, self.1 + o.1, self.2 + o.2)
    }
    fn sub(self, o: V) -> V {
        V(self.0 - o.0, self.1 - o.1, self.2 - o.2)
    }
    fn mul(self, k: f64) -> V {
        V(self.0 * k, self.1 * k, self.2 * k)
    }
    fn times(self, o: V) -> V {
        V(self.0 * o.0, self.1 * o.1, self.2 * o.2)
    }
    fn dot(self, o: V) -> f64 {
        self.0 * o.0 + self.1 * o.1 + self.2 * o.2
    }
    fn unit(self) -> V {
        self.mul(1.0 / math::sqrt(self.dot(self)))
    }
}

struct Sphere {
    center: V,
    radius: f64,
    color: V,
    mirror: f64,
}

const SPHERES: [Sphere; 4] = [
    Sphere { center: V(0.0, 1.0, 0.0), radius: 1.0, color: V(0.9, 0.25, 0.2), mirror: 0.25 },
    Sphere { center: V(-2.2, 0.7, 0.8), radius: 0.7, color: V(0.2, 0.5, 0.9), mirror: 0.1 },
    Sphere { center: V(2.0, 0.8, -0.6), radius: 0.8, color: V(0.95, 0.95, 0.95), mirror: 0.8 },
    Sphere { center: V(0.9, 0.35, 1.7), radius: 0.35, color: V(0.3, 0.85, 0.35), mirror: 0.0 },
];
const LIGHT: V = V(-4.0, 7.0, 5.0);
const EYE: V = V(0.0, 2.2, 7.0);
const SKY: V = V(0.55, 0.7, 0.95);
const DEPTH: u32 = 4;

/// The nearest hit along a ray: distance, normal, colour, mirror share.
fn hit(origin: V, dir: V) -> Option<(f64, V, V, f64)> {
    let mut best: Option<(f64, V, V, f64)> = None;
    for s in &SPHERES {
        let oc = origin.sub(s.center);
        let b = oc.dot(dir);
        let disc = b * b - (oc.dot(oc) - s.radius * s.radius);
        if disc <= 0.0 {
            continue;
        }
        let t = -b - math::sqrt(disc);
        if t > 1e-6 && best.is_none_or(|(bt, ..)| t < bt) {
            let point = origin.add(dir.mul(t));
            best = Some((t, point.sub(s.center).mul(1.0 / s.radius), s.color, s.mirror));
        }
    }
    if dir.1 < -1e-9 {
        let t = -origin.1 / dir.1;
        if t > 1e-6 && best.is_none_or(|(bt, ..)| t < bt) {
            let p = origin.add(dir.mul(t));
            let check = (math::floor(p.0) + math::floor(p.2)) as i64 & 1 == 0;
            let color = if check { V(0.85, 0.85, 0.8) } else { V(0.25, 0.25, 0.3) };
            best = Some((t, V(0.0, 1.0, 0.0), color, 0.15));
        }
    }
    best
}

fn trace(origin: V, dir: V, depth: u32) -> V {
    let Some((t, normal, color, mirror)) = hit(origin, dir) else {
        return SKY.mul(0.6 + 0.4 * dir.1.max(0.0));
    };
    let point = origin.add(dir.mul(t));
    let to_light = LIGHT.sub(point);
    let light_dir = to_light.unit();
    let shadowed = hit(point.add(normal.mul(1e-6)), light_dir).is_some_and(|(d, ..)| d * d < to_light.dot(to_light));
    let diffuse = if shadowed { 0.0 } else { normal.dot(light_dir).max(0.0) };
    let local = color.mul(0.15 + 0.85 * diffuse);
    if depth == 0 || mirror == 0.0 {
        return local;
    }
    let reflected = dir.sub(normal.mul(2.0 * dir.dot(normal)));
    local
        .mul(1.0 - mirror)
        .add(trace(point.add(normal.mul(1e-6)), reflected, depth - 1).times(V(mirror, mirror, mirror)))
}

/// One pixel, averaged over `samples` jittered rays (seeded by the pixel).
fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
    let mut rng = SplitMix64::new(u64::from(y) << 32 | u64::from(x));
    let aspect = f64::from(frame.width) / f64::from(frame.height);
    let mut sum = V(0.0, 0.0, 0.0);
    for _ in 0..frame.samples {
        let u = (f64::from(x) + rng.next_f64()) / f64::from(frame.width) * 2.0 - 1.0;
        let v = 1.0 - (f64::from(y) + rng.next_f64()) / f64::from(frame.height) * 2.0;
        let dir = V(u * aspect * 0.6, v * 0.6 - 0.2, -1.0).unit();
        sum = sum.add(trace(EYE, dir, DEPTH));
    }
    let c = sum.mul(1.0 / f64::from(frame.samples));
    // Gamma 2 (a square root), rounded to 8 bits.
    let byte = |v: f64| (math::sqrt(v.clamp(0.0, 1.0)) * 255.0 + 0.5) as u8;
    [byte(c.0), byte(c.1), byte(c.2)]
}

/// One task: tile `index` of the frame, RGB8 (empty for a malformed input).
pub fn run(input: &[u8]) -> Vec<u8> {
    let Some((index, args)) = range_task(input) else { return Vec::new() };
    let Some(frame) = Frame::from_args(args) else { return Vec::new() };
    let Some((x0, y0, w, h)) = u32::try_from(index).ok().and_then(|i| frame.rect(i)) else { return Vec::new() };
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    for y in y0..y0 + h {
        for x in x0..x0 + w {
            out.extend_from_slice(&pixel(&frame, x, y));
        }
    }
    out
}

ostrich_kernel_sdk::kernel!(run);

/// Puts the tiles (in task order) together into one RGB8 image.
pub fn assemble<'a>(frame: &Frame, tiles: impl IntoIterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut image = vec![0u8; (frame.width * frame.height * 3) as usize];
    let mut count = 0;
    for (index, tile) in tiles.into_iter().enumerate() {
        let (x0, y0, w, h) = frame.rect(index as u32)?;
        if tile.len() != (w * h * 3) as usize {
            return None;
        }
        for (row, pixels) in tile.chunks_exact((w * 3) as usize).enumerate() {
            let start = (((y0 + row as u32) * frame.width + x0) * 3) as usize;
            image[start..start + pixels.len()].copy_from_slice(pixels);
        }
        count += 1;
    }
    (count == frame.tiles()).then_some(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_frame_and_assemble_into_a_picture() {
        let frame = Frame { width: 40, height: 30, tile: 16, samples: 2 };
        assert_eq!(Frame::from_args(&frame.to_args()), Some(frame));
        assert_eq!(frame.tiles(), 3 * 2);
        assert_eq!(frame.rect(5), Some((32, 16, 8, 14)));
        let tiles: Vec<Vec<u8>> = (0..frame.tiles() as u64)
            .map(|i| {
                let mut input = i.to_le_bytes().to_vec();
                input.extend(frame.to_args());
                run(&input)
            })
            .collect();
        let image = assemble(&frame, tiles.iter().map(Vec::as_slice)).expect("every tile");
        // The top row is sky (blue above red); the red sphere is in the middle.
        let at = |x: u32, y: u32| &image[((y * frame.width + x) * 3) as usize..][..3];
        assert!(at(20, 0)[2] > at(20, 0)[0], "sky at the top: {:?}", at(20, 0));
        assert!(at(20, 14)[0] > at(20, 14)[2], "the red sphere in the middle: {:?}", at(20, 14));
        assert!(assemble(&frame, tiles.iter().take(5).map(Vec::as_slice)).is_none());
    }
}
