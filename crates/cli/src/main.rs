//! The `tack` binary.
fn main() {
    println!("tack {}", env!("CARGO_PKG_VERSION"));
}
