//! Storage for containers: overlayfs snapshots over image layers and named volumes.
//!
//! Snapshots are descriptions first, as containerd's snapshotters return mounts: [`overlay()`]
//! builds a [`MountSpec`] from the image's layers (pure, tested as data) and [`mount()`] carries
//! it out. Named volumes live in a [`VolumeStore`] under the data directory.

pub mod mount;
pub mod overlay;
pub mod volumes;

use std::io;
use std::path::PathBuf;

use crate::image::layers::LayerError;

pub use mount::{mount, mount_with, unmount, MountMethod, MountSpec};
pub use overlay::overlay;
pub use volumes::{copy_up, valid_volume_name, Volume, VolumeError, VolumeStore};

/// What can go wrong building, mounting or unmounting a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A layer of the image is not usable (not unpacked, or its short name is broken).
    #[error(transparent)]
    Layer(#[from] LayerError),
    /// A path cannot be written into overlay mount options (they are separated by `,` and the
    /// lower directories by `:`).
    #[error("{role} {path}: overlay options cannot carry a path containing ',', ':' or a newline; use another data directory")]
    UnusablePath {
        /// Which directory (`upperdir`, `workdir`, `lowerdir`).
        role: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A path that must be absolute is not.
    #[error("{role} {path}: must be an absolute path")]
    RelativePath {
        /// Which directory.
        role: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// The mount options do not fit in one page of mount data and this kernel cannot take
    /// the lower directories one by one (`lowerdir+`, Linux 6.8).
    #[error("mounting {target}: the options are {len} bytes, over the kernel's limit of {max}; the image has too many layers for this kernel")]
    OptionsTooLong {
        /// The mount point.
        target: PathBuf,
        /// Length of the mount data.
        len: usize,
        /// The most the kernel takes.
        max: usize,
    },
    /// The kernel refused the mount.
    #[error("mounting {fstype} on {target}: {source}{}{}", option_says(.option), kernel_says(.detail))]
    Mount {
        /// The filesystem type.
        fstype: String,
        /// The mount point.
        target: PathBuf,
        /// The error the kernel returned.
        source: io::Error,
        /// The option the kernel refused, when one was (new mount API only).
        option: Option<String>,
        /// What the kernel logged about it (new mount API only), e.g.
        /// `overlay: failed to resolve 'l/ABC': -2`.
        detail: Option<String>,
    },
    /// The kernel refused to unmount.
    #[error("unmounting {target}: {source}")]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// Why.
        source: io::Error,
    },
}

fn option_says(option: &Option<String>) -> String {
    match option {
        Some(o) => format!(" (refused option {o})"),
        None => String::new(),
    }
}

fn kernel_says(detail: &Option<String>) -> String {
    match detail {
        Some(d) => format!(" (kernel: {d})"),
        None => String::new(),
    }
}

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> StorageError {
    let path = path.into();
    move |source| StorageError::Io { path, source }
}
