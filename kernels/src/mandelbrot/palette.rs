//! The colour palette for rendered counts.

/// Colour stops of the palette: deep blue, blue, near white, orange, near black.
const PALETTE: [[f64; 3]; 5] =
    [[0.0, 7.0, 100.0], [32.0, 107.0, 203.0], [237.0, 255.0, 255.0], [255.0, 170.0, 0.0], [0.0, 2.0, 0.0]];

/// How fast the palette cycles with the square root of the count.
const PALETTE_RATE: f64 = 0.15;

/// Returns the colour of a pixel with the given count: black inside the set, otherwise a
/// cyclic gradient through blue, white and orange.
///
/// The position in the gradient grows with the square root of the count, so the bands stay
/// a similar width from the outskirts to deep near the set. Uses only correctly rounded
/// operations, so the colours are the same on every platform.
pub fn colorize(iterations: u32, max_iter: u32) -> [u8; 3] {
    if iterations >= max_iter {
        return [0, 0, 0];
    }
    let position = (f64::from(iterations).sqrt() * PALETTE_RATE).fract() * PALETTE.len() as f64;
    let index = (position as usize).min(PALETTE.len() - 1);
    let frac = position - index as f64;
    let from = PALETTE[index];
    let to = PALETTE[(index + 1) % PALETTE.len()];
    let channel = |c: usize| (from[c] + (to[c] - from[c]) * frac).round().clamp(0.0, 255.0) as u8;
    [channel(0), channel(1), channel(2)]
}

#[cfg(test)]
mod tests {
    use super::colorize;

    #[test]
    fn colours_are_black_inside_and_varied_outside() {
        assert_eq!(colorize(200, 200), [0, 0, 0]);
        assert_eq!(colorize(500, 200), [0, 0, 0]);
        assert_eq!(colorize(0, 200), [0, 7, 100]);
        let colours: Vec<[u8; 3]> = (0..200).map(|n| colorize(n, 200)).collect();
        let mut distinct = colours.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 50, "{}", distinct.len());
        // Neighbouring counts get similar colours: the gradient is smooth.
        for pair in colours.windows(2) {
            let step: i32 = (0..3).map(|c| (i32::from(pair[0][c]) - i32::from(pair[1][c])).abs()).sum();
            assert!(step < 200, "{pair:?}");
        }
    }
}
