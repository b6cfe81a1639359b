//! Tests of the pixel mapping, rendering and spot checks.

use super::Geometry;
use super::{
    MAX_TILE_PIXELS, View, escape_time, in_cardioid_or_bulb, iterations_at, render_tile, spot_check, total_iterations,
};
use crate::KernelError;

/// The whole set in a small image.
const WHOLE: View = View { width: 64, height: 48, center_re: -0.75, center_im: 0.0, zoom: 1.0, max_iter: 200 };

/// A zoomed view on the boundary near the seahorse valley.
const SEAHORSE: View =
    View { width: 40, height: 30, center_re: -0.743_643_887, center_im: 0.131_825_904, zoom: 200.0, max_iter: 1000 };

/// A 7×5 image of pixel size 0.5 centred on 0, so pixel centres land on round numbers.
const SMALL: View = View { width: 7, height: 5, center_re: 0.0, center_im: 0.0, zoom: 1.0, max_iter: 50 };

/// The escape-time loop without the cardioid and bulb shortcut.
fn plain_escape_time(cr: f64, ci: f64, max_iter: u32) -> u32 {
    let (mut zr, mut zi) = (0.0f64, 0.0f64);
    for n in 0..max_iter {
        let (zr2, zi2) = (zr * zr, zi * zi);
        if zr2 + zi2 > 4.0 {
            return n;
        }
        zi = 2.0 * zr * zi + ci;
        zr = zr2 - zi2 + cr;
    }
    max_iter
}

#[test]
fn pixels_map_to_the_documented_points() {
    let view = SMALL;
    let size = view.pixel_size();
    assert_eq!(size, 0.5);
    assert_eq!(view.pixel_point(size, 3, 2), (0.0, 0.0));
    assert_eq!(view.pixel_point(size, 0, 2), (-1.5, 0.0));
    // Row 0 is the top of the image, so it has the largest imaginary part.
    assert_eq!(view.pixel_point(size, 3, 0), (0.0, 1.0));
    let zoomed = View { zoom: 2.0, center_re: 1.0, center_im: -1.0, ..view };
    assert_eq!(zoomed.pixel_point(zoomed.pixel_size(), 6, 4), (1.75, -1.5));
}

#[test]
fn known_points_have_known_counts() {
    let view = SMALL;
    assert_eq!(iterations_at(&view, 3, 2), 50, "c = 0 is inside");
    assert_eq!(iterations_at(&view, 0, 2), 50, "c = -1.5 is inside");
    // c = 1.5: z1 = 1.5 (|z|² = 2.25), z2 = 3.75, which escapes at the check after two steps.
    assert_eq!(iterations_at(&view, 6, 2), 2);
    assert_eq!(escape_time(3.0, 0.0, 50), 1);
    assert_eq!(escape_time(-2.0, 0.0, 50), 50, "c = -2 stays on the boundary");
}

#[test]
fn render_tile_matches_iterations_at() {
    for view in [WHOLE, SEAHORSE] {
        let (x, y, w, h) = (5, 3, 17, 11);
        let tile = render_tile(&view, x, y, w, h).expect("valid tile");
        assert_eq!(tile.len(), (w * h) as usize);
        for (index, &count) in tile.iter().enumerate() {
            let (px, py) = (x + index as u32 % w, y + index as u32 / w);
            assert_eq!(count, iterations_at(&view, px, py), "pixel ({px}, {py})");
        }
        let full = render_tile(&view, 0, 0, view.width, view.height).expect("valid tile");
        assert!(full.contains(&view.max_iter) && full.iter().any(|&c| c < view.max_iter));
    }
}

/// Checks every pixel of a tile rendered by the vectorised [`render_tile`] against the
/// scalar reference, and on x86-64 the tile rendered by every level's code this CPU runs
/// (AVX-512, AVX2, SSE2: each groups a different number of pixels); answers the counts.
fn assert_bit_identical(view: &View, x: u32, y: u32, w: u32, h: u32) -> Vec<u32> {
    let tile = render_tile(view, x, y, w, h).expect("valid tile");
    for (index, &count) in tile.iter().enumerate() {
        let (px, py) = (x + index as u32 % w, y + index as u32 / w);
        assert_eq!(count, iterations_at(view, px, py), "pixel ({px}, {py}) of {view:?}");
    }
    #[cfg(target_arch = "x86_64")]
    for level in crate::cpu::X86Level::ALL {
        if let Some(at_level) = super::render_tile_at(level, view, x, y, w, h) {
            assert_eq!(at_level.as_ref(), Ok(&tile), "{level:?} on {view:?}");
        }
    }
    tile
}

#[test]
fn vectorised_rendering_is_bit_identical_on_random_views() {
    // Boundary points where neighbouring pixels' counts differ most: seahorse and elephant
    // valleys, a minibrot, the tip of the needle, the cusp, spirals, a Misiurewicz point.
    const BOUNDARY: [(f64, f64); 8] = [
        (-0.743_643_887_037_151, 0.131_825_904_205_33),
        (0.282_5, 0.01),
        (-1.754_877_666_246_693, 0.0),
        (-1.999_999_9, 0.0),
        (0.25, 0.0),
        (-0.761_574, -0.084_759_6),
        (-0.1011, 0.9563),
        (-0.77568377, 0.13646737),
    ];
    let mut rng = crate::rng::SplitMix64::new(13);
    let mut below = |n: u64| (rng.next_u64() % n) as u32;
    let (mut escaped, mut inside, mut deep) = (0, 0, 0);
    for round in 0..600 {
        let (center_re, center_im) = if round % 3 == 0 {
            (
                -2.2 + 3.0 * f64::from(below(1 << 20)) / f64::from(1 << 20),
                -1.3 + 2.6 * f64::from(below(1 << 20)) / f64::from(1 << 20),
            )
        } else {
            BOUNDARY[below(BOUNDARY.len() as u64) as usize]
        };
        // Zooms from 1 to 10^13, the deepest a 64-bit float resolves.
        let zoom = 10f64.powf(f64::from(below(1300)) / 100.0);
        let max_iter = [1, 2, 7, 100, 1000, 5000][below(6) as usize];
        let (width, height) = (1 + below(160), 1 + below(90));
        let view = View { width, height, center_re, center_im, zoom, max_iter };
        let (w, h) = (1 + below(u64::from(width.min(70))), 1 + below(u64::from(height.min(20))));
        let (x, y) = (below(u64::from(width - w + 1)), below(u64::from(height - h + 1)));
        let tile = assert_bit_identical(&view, x, y, w, h);
        escaped += tile.iter().filter(|&&c| c < max_iter).count();
        inside += tile.iter().filter(|&&c| c == max_iter).count();
        deep += tile.iter().filter(|&&c| c > 100 && c < max_iter).count();
    }
    // The views reach every kind of pixel: escaping, interior, and slow to escape.
    assert!(escaped > 25_000 && inside > 25_000 && deep > 2_500, "{escaped} {inside} {deep}");
}

#[test]
fn vectorised_rendering_is_bit_identical_on_the_escape_radius() {
    // Pixel size 0.5 puts pixel centres on round numbers, some exactly on |z| = 2 (c = ±2,
    // ±2i), where the test `|z|² > 4` must go the same way in every lane.
    for (center_re, center_im) in [(2.0, 0.0), (-2.0, 0.0), (0.0, 2.0), (0.0, -2.0), (1.5, 1.5)] {
        let view = View { width: 37, height: 9, center_re, center_im, zoom: 3.5 / (0.5 * 37.0), max_iter: 300 };
        assert_eq!(view.pixel_size(), 0.5);
        assert_bit_identical(&view, 0, 0, 37, 9);
    }
    // c = -2 never escapes (z = -2, 2, 2, …, |z|² = 4 exactly); c = 2 reaches |z|² = 4 after one step and
    // escapes after the second.
    let needle =
        View { width: 37, height: 9, center_re: -2.0, center_im: 0.0, zoom: 3.5 / (0.5 * 37.0), max_iter: 300 };
    assert_eq!(render_tile(&needle, 18, 4, 1, 1), Ok(vec![300]));
    let tip = View { center_re: 2.0, ..needle };
    assert_eq!(render_tile(&tip, 18, 4, 1, 1), Ok(vec![2]));
}

#[test]
fn shortcut_never_changes_a_count() {
    let view = View { width: 160, height: 120, max_iter: 1000, ..WHOLE };
    let size = view.pixel_size();
    let mut shortcut_hits = 0;
    for py in 0..view.height {
        for px in 0..view.width {
            let (re, im) = view.pixel_point(size, px, py);
            shortcut_hits += usize::from(in_cardioid_or_bulb(re, im));
            assert_eq!(escape_time(re, im, view.max_iter), plain_escape_time(re, im, view.max_iter));
        }
    }
    assert!(shortcut_hits > 1000, "the shortcut must be exercised: {shortcut_hits}");
}

#[test]
fn degenerate_views_are_rejected() {
    let bad_views = [
        View { width: 0, ..WHOLE },
        View { height: 0, ..WHOLE },
        View { zoom: 0.0, ..WHOLE },
        View { zoom: -1.0, ..WHOLE },
        View { zoom: f64::NAN, ..WHOLE },
        View { zoom: f64::INFINITY, ..WHOLE },
        View { zoom: 1e308, ..WHOLE },
        View { center_re: f64::NAN, ..WHOLE },
        View { max_iter: 0, ..WHOLE },
        View { max_iter: 1_000_001, ..WHOLE },
    ];
    for view in bad_views {
        assert!(matches!(render_tile(&view, 0, 0, 1, 1), Err(KernelError::InvalidView { .. })), "{view:?}");
        assert!(matches!(spot_check(&view, 0, 0, 1, 1, &[0], 1, 0), Err(KernelError::InvalidView { .. })));
    }
    assert!(render_tile(&View { max_iter: 1_000_000, ..WHOLE }, 0, 0, 1, 1).is_ok());
}

#[test]
fn rectangles_outside_the_image_are_rejected() {
    let outside = KernelError::RectOutOfBounds { x: 60, y: 0, w: 5, h: 1 };
    assert_eq!(render_tile(&WHOLE, 60, 0, 5, 1), Err(outside));
    assert!(render_tile(&WHOLE, 0, 40, 1, 9).is_err());
    assert!(render_tile(&WHOLE, u32::MAX, 0, 2, 1).is_err());
    assert_eq!(render_tile(&WHOLE, 64, 48, 0, 0), Ok(vec![]));
    let huge = View { width: 1 << 14, height: 1 << 14, ..WHOLE };
    assert!(huge.width as usize * huge.height as usize > MAX_TILE_PIXELS);
    assert_eq!(render_tile(&huge, 0, 0, huge.width, huge.height), Err(KernelError::TooLarge { what: "tile" }));
}

#[test]
fn spot_check_accepts_honest_tiles() {
    for view in [WHOLE, SEAHORSE] {
        let (x, y, w, h) = (2, 4, 30, 20);
        let tile = render_tile(&view, x, y, w, h).expect("valid tile");
        for seed in 0..5 {
            assert_eq!(spot_check(&view, x, y, w, h, &tile, 16, seed), Ok(()));
        }
        assert_eq!(spot_check(&view, x, y, w, h, &tile, usize::MAX, 0), Ok(()));
    }
    assert_eq!(spot_check(&WHOLE, 3, 3, 0, 5, &[], 10, 0), Ok(()));
}

#[test]
fn spot_check_rejects_an_altered_corner() {
    let (x, y, w, h) = (8, 6, 21, 13);
    let tile = render_tile(&SEAHORSE, x, y, w, h).expect("valid tile");
    let corners = [(0, x, y), (20, x + 20, y), (252, x, y + 12), (272, x + 20, y + 12)];
    for (index, px, py) in corners {
        let mut bad = tile.clone();
        bad[index] = (bad[index] + 1) % (SEAHORSE.max_iter + 1);
        let result = spot_check(&SEAHORSE, x, y, w, h, &bad, 0, 1);
        assert_eq!(result, Err(KernelError::SpotCheckFailed { px, py, expected: tile[index], found: bad[index] }));
    }
}

#[test]
fn exhaustive_spot_check_finds_any_altered_pixel() {
    let (x, y, w, h) = (0, 0, 16, 16);
    let tile = render_tile(&WHOLE, x, y, w, h).expect("valid tile");
    let mut bad = tile.clone();
    bad[100] = if tile[100] == 0 { 1 } else { tile[100] - 1 };
    assert_ne!(bad[100], tile[100]);
    let result = spot_check(&WHOLE, x, y, w, h, &bad, 256, 0);
    assert!(matches!(result, Err(KernelError::SpotCheckFailed { px: 4, py: 6, .. })), "{result:?}");
}

#[test]
fn spot_check_rejects_bad_lengths_and_counts() {
    let tile = render_tile(&WHOLE, 0, 0, 10, 10).expect("valid tile");
    let short = spot_check(&WHOLE, 0, 0, 10, 10, &tile[..99], 4, 0);
    assert_eq!(short, Err(KernelError::LengthMismatch { what: "iterations", expected: 100, found: 99 }));
    let mut too_big = tile.clone();
    too_big[57] = WHOLE.max_iter + 1;
    let result = spot_check(&WHOLE, 0, 0, 10, 10, &too_big, 0, 0);
    assert_eq!(result, Err(KernelError::CountOutOfRange { index: 57, count: 201, max_iter: 200 }));
}

#[test]
fn total_iterations_sums_counts() {
    assert_eq!(total_iterations(&[]), 0);
    assert_eq!(total_iterations(&[1, 2, 3]), 6);
    assert_eq!(total_iterations(&[u32::MAX, u32::MAX]), 2 * u64::from(u32::MAX));
}

#[test]
fn pinned_counts_never_change() {
    // Recomputing this tile in a native build, a wasm build without SIMD and one with
    // SIMD128 gave these same counts; a change here breaks agreement with deployed devices.
    let view = View { width: 300, height: 200, max_iter: 5000, zoom: 3000.0, ..SEAHORSE };
    let tile = render_tile(&view, 0, 0, 300, 200).expect("valid tile");
    assert_eq!(&tile[..3], &[35, 35, 35]);
    assert_eq!(total_iterations(&tile), 6_069_419);
}
