//! Generates the tonic code from `proto/*.proto` with protox, a protobuf compiler written in
//! Rust, so that building Skiff needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/raft.proto", "proto/agent.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    tonic_prost_build::configure()
        // Shared by every session an environment's change goes to: a clone is a reference.
        .bytes(".skiff.agent.v1.ServerMessage.endpoints")
        .compile_fds(descriptors)?;
    Ok(())
}
