//! Prints the kernel measurements of a native build as JSON lines, for `cargo xtask bench`.

use std::time::Instant;

fn main() {
    let start = Instant::now();
    print!("{}", ostrich_kernel_bench::report(&move || start.elapsed().as_secs_f64()));
}
