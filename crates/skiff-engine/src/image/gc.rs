//! Garbage collection of blobs and layers no image or container uses. (Being written; see
//! issue 4.)
