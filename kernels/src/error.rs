//! The error type shared by every kernel and verifier.

use std::fmt;

/// Why input to a kernel or verifier was rejected.
#[derive(Debug, Clone, PartialEq)]
pub enum KernelError {
    /// A buffer does not have the length its dimensions imply.
    LengthMismatch {
        /// Which buffer was wrong, for example `"a"` or `"iterations"`.
        what: &'static str,
        /// The length the dimensions imply.
        expected: usize,
        /// The length that was supplied.
        found: usize,
    },
    /// The dimensions describe a buffer too large to address or allocate.
    TooLarge {
        /// Which quantity overflowed or exceeded its limit.
        what: &'static str,
    },
    /// A buffer holds a NaN or an infinity where only finite values make sense.
    NonFinite {
        /// Which buffer held the value.
        what: &'static str,
        /// The index of the first offending value.
        index: usize,
    },
    /// A claimed matrix product failed Freivalds' check.
    VerificationFailed {
        /// The first row whose check failed.
        row: usize,
        /// How far the claimed row projection was from the recomputed one.
        diff: f64,
        /// The largest difference honest rounding error could explain.
        tolerance: f64,
    },
    /// A Mandelbrot view cannot be rendered (zero size, bad zoom, bad iteration limit).
    InvalidView {
        /// What is wrong with the view.
        reason: &'static str,
    },
    /// A requested rectangle does not lie inside the image.
    RectOutOfBounds {
        /// Left edge of the rectangle.
        x: u32,
        /// Top edge of the rectangle.
        y: u32,
        /// Width of the rectangle.
        w: u32,
        /// Height of the rectangle.
        h: u32,
    },
    /// An iteration count exceeds the view's `max_iter`.
    CountOutOfRange {
        /// Index of the count inside the tile buffer.
        index: usize,
        /// The count that was supplied.
        count: u32,
        /// The largest count the view allows.
        max_iter: u32,
    },
    /// A recomputed Mandelbrot pixel disagrees with the claimed count.
    SpotCheckFailed {
        /// Pixel column in the full image.
        px: u32,
        /// Pixel row in the full image.
        py: u32,
        /// The recomputed iteration count.
        expected: u32,
        /// The claimed iteration count.
        found: u32,
    },
    /// Bytes are not a `.npy` file of the supported kind.
    BadFormat {
        /// What is wrong with the bytes.
        reason: &'static str,
    },
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { what, expected, found } => {
                write!(f, "length of {what} is {found}, expected {expected}")
            }
            Self::TooLarge { what } => write!(f, "{what} is too large"),
            Self::NonFinite { what, index } => {
                write!(f, "{what} holds a non-finite value at index {index}")
            }
            Self::VerificationFailed { row, diff, tolerance } => write!(
                f,
                "matrix product check failed at row {row}: difference {diff:e} exceeds tolerance {tolerance:e}"
            ),
            Self::InvalidView { reason } => write!(f, "invalid view: {reason}"),
            Self::RectOutOfBounds { x, y, w, h } => {
                write!(f, "rectangle {w}x{h} at ({x}, {y}) is outside the image")
            }
            Self::CountOutOfRange { index, count, max_iter } => {
                write!(f, "iteration count {count} at index {index} exceeds max_iter {max_iter}")
            }
            Self::SpotCheckFailed { px, py, expected, found } => {
                write!(f, "pixel ({px}, {py}) claims {found} iterations, recomputed {expected}")
            }
            Self::BadFormat { reason } => write!(f, "bad npy data: {reason}"),
        }
    }
}

impl std::error::Error for KernelError {}

#[cfg(test)]
mod tests {
    use super::KernelError;

    #[test]
    fn messages_are_lowercase_without_trailing_period() {
        let errors = [
            KernelError::LengthMismatch { what: "a", expected: 4, found: 3 },
            KernelError::TooLarge { what: "tile" },
            KernelError::NonFinite { what: "c", index: 2 },
            KernelError::VerificationFailed { row: 1, diff: 2.0, tolerance: 0.5 },
            KernelError::InvalidView { reason: "zoom is not positive" },
            KernelError::RectOutOfBounds { x: 1, y: 2, w: 3, h: 4 },
            KernelError::CountOutOfRange { index: 0, count: 9, max_iter: 8 },
            KernelError::SpotCheckFailed { px: 0, py: 0, expected: 1, found: 2 },
            KernelError::BadFormat { reason: "bad magic" },
        ];
        for error in errors {
            let message = error.to_string();
            let first = message.chars().next();
            assert!(first.is_some_and(|c| c.is_lowercase()), "{message}");
            assert!(!message.ends_with('.'), "{message}");
        }
    }

    #[test]
    fn length_mismatch_message_names_the_buffer() {
        let error = KernelError::LengthMismatch { what: "b", expected: 6, found: 5 };
        assert_eq!(error.to_string(), "length of b is 5, expected 6");
    }
}
