//! Rebuilds the coordinator when the built swarm-ui changes, files added or removed
//! included: rust-embed's `include_bytes!` alone only notices files it already embedded.

fn main() {
    println!("cargo:rerun-if-changed=../swarm-ui/dist");
}
