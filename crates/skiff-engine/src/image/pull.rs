//! Pulling images from registries into the store. (Being written; see issue 4.)
