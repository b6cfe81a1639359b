//! Mandelbrot previews: the verified tiles of a job, coloured as they arrive, so the
//! dashboard's canvas fills in tile by tile. Every listed Mandelbrot job has one; after a
//! reload the page asks the coordinator for the tiles verified so far
//! (`MasterCommand::SendPreview`), so a tile may arrive twice and is then drawn once.

use std::collections::BTreeSet;
use std::rc::Rc;

use ostrich_kernels::colorize;
use ostrich_protocol::{MandelbrotSpec, MandelbrotView, Rect};
use serde::{Deserialize, Serialize};

/// What a preview needs to know about its job: the image size and the iteration cap that
/// sets the palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewSpec {
    /// Image width in pixels.
    pub width: u32,
    /// Image height in pixels.
    pub height: u32,
    /// The job's iteration cap.
    pub max_iter: u32,
}

impl From<&MandelbrotView> for PreviewSpec {
    fn from(view: &MandelbrotView) -> Self {
        Self { width: view.width, height: view.height, max_iter: view.max_iter }
    }
}

impl From<&MandelbrotSpec> for PreviewSpec {
    fn from(spec: &MandelbrotSpec) -> Self {
        Self::from(&spec.view)
    }
}

/// One coloured tile.
#[derive(Debug, PartialEq, Eq)]
pub struct PreviewTile {
    /// Where it sits in the image.
    pub rect: Rect,
    /// RGBA bytes, w×h row-major, ready for `ImageData`.
    pub rgba: Vec<u8>,
}

/// A job's preview. Tiles are shared (`Rc`), so cloning the state stays cheap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The image.
    pub spec: PreviewSpec,
    /// The tiles received, in arrival order.
    pub tiles: Vec<Rc<PreviewTile>>,
    /// The top-left corners of those tiles, so a tile sent again is kept once.
    origins: BTreeSet<(u32, u32)>,
    /// A snapshot has listed the job; once listed, a snapshot without it means it is gone.
    pub listed: bool,
}

impl Preview {
    /// An empty preview of a job just submitted or just seen, not yet in a snapshot.
    pub fn new(spec: PreviewSpec) -> Self {
        Self { spec, tiles: Vec::new(), origins: BTreeSet::new(), listed: false }
    }

    /// An empty preview of a job a snapshot lists.
    pub fn listed(spec: PreviewSpec) -> Self {
        Self { listed: true, ..Self::new(spec) }
    }

    /// Colours a tile and keeps it. A tile that does not fit the image, whose counts do not
    /// match its size, or that is here already, is dropped.
    pub fn add_tile(&mut self, rect: Rect, iterations: &[u32]) -> bool {
        let fits = u64::from(rect.x) + u64::from(rect.w) <= u64::from(self.spec.width)
            && u64::from(rect.y) + u64::from(rect.h) <= u64::from(self.spec.height);
        let pixels = rect.w as usize * rect.h as usize;
        if !fits || pixels == 0 || iterations.len() != pixels || !self.origins.insert((rect.x, rect.y)) {
            return false;
        }
        let mut rgba = Vec::with_capacity(pixels * 4);
        for &count in iterations {
            let [r, g, b] = colorize(count, self.spec.max_iter);
            rgba.extend_from_slice(&[r, g, b, 255]);
        }
        self.tiles.push(Rc::new(PreviewTile { rect, rgba }));
        true
    }

    /// Pixels covered so far, for the caption.
    pub fn pixels_done(&self) -> u64 {
        self.tiles.iter().map(|t| u64::from(t.rect.w) * u64::from(t.rect.h)).sum()
    }
}
