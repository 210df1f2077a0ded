//! Writes the layered test image as an OCI layout: `cargo run -p skiff-testkit --example
//! write_image -- DIR [TAG]` (for trying the engine by hand).

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().expect("usage: write_image DIR [TAG]");
    let tag = args.next().unwrap_or_else(|| "test:latest".into());
    let built = skiff_testkit::image::layered_busybox().write_oci_layout(dir.as_ref(), &tag);
    println!("{}", built.manifest_digest);
}
