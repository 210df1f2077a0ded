//! Storage for containers: overlayfs snapshots over image layers, named volumes, bind mounts and
//! tmpfs. (Being written; see issue 4.)
