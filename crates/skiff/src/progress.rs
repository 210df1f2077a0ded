//! Showing how a pull goes: a bar per layer on a terminal (stderr), one plain line per layer
//! when stderr is a file or a pipe (logs, CI).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use skiff_engine::image::pull::PullProgress;
use skiff_engine::image::Reference;
use skiff_engine::Digest;

/// Progress of a pull on stderr: per-layer bars on a terminal, plain lines otherwise.
#[derive(Debug)]
pub struct PullBars {
    /// The bars' home; `None` when stderr is not a terminal.
    multi: Option<MultiProgress>,
    /// One bar per layer (terminal), or the layer's size (plain lines).
    layers: Mutex<HashMap<Digest, Layer>>,
}

#[derive(Debug)]
enum Layer {
    Bar(ProgressBar),
    Size(u64),
}

impl Default for PullBars {
    fn default() -> Self {
        Self::new()
    }
}

impl PullBars {
    /// Bars if stderr is a terminal, plain lines if not.
    pub fn new() -> Self {
        let multi = std::io::stderr()
            .is_terminal()
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        PullBars {
            multi,
            layers: Mutex::new(HashMap::new()),
        }
    }

    fn layers(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Layer>> {
        self.layers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn line(&self, text: String) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(text);
            }
            None => eprintln!("{text}"),
        }
    }
}

/// A layer's bar: short digest, bar, bytes, state.
const TEMPLATE: &str = "{prefix:.bold} [{bar:30.cyan/blue}] {bytes:>10}/{total_bytes:<10} {msg}";

fn style() -> ProgressStyle {
    ProgressStyle::with_template(TEMPLATE)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl PullProgress for PullBars {
    fn resolved(&self, r: &Reference, manifest: &Digest) {
        self.line(format!("{}: resolved to {manifest}", r.familiar()));
    }

    fn layer_start(&self, blob: &Digest, size: u64) {
        let layer = match &self.multi {
            Some(multi) => {
                let bar = multi.add(ProgressBar::new(size));
                bar.set_style(style());
                bar.set_prefix(blob.short().to_string());
                bar.set_message("downloading");
                Layer::Bar(bar)
            }
            None => Layer::Size(size),
        };
        self.layers().insert(blob.clone(), layer);
    }

    fn layer_bytes(&self, blob: &Digest, new_bytes: u64) {
        if let Some(Layer::Bar(bar)) = self.layers().get(blob) {
            bar.inc(new_bytes);
        }
    }

    fn layer_done(&self, blob: &Digest, already_present: bool) {
        let what = if already_present {
            "already present"
        } else {
            "done"
        };
        match self.layers().remove(blob) {
            Some(Layer::Bar(bar)) => {
                if let Some(len) = bar.length() {
                    bar.set_position(len);
                }
                bar.finish_with_message(what);
            }
            Some(Layer::Size(size)) => {
                eprintln!("pulling {} ({})… {what}", blob.short(), HumanBytes(size));
            }
            None => eprintln!("pulling {}… {what}", blob.short()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_without_a_terminal() {
        // Under `cargo test` stderr is captured, not a terminal: no bars, sizes remembered.
        let bars = PullBars {
            multi: None,
            layers: Mutex::new(HashMap::new()),
        };
        let blob = Digest::of(b"layer");
        bars.layer_start(&blob, 1234);
        bars.layer_bytes(&blob, 1000);
        assert!(matches!(bars.layers().get(&blob), Some(Layer::Size(1234))));
        bars.layer_done(&blob, false);
        assert!(bars.layers().is_empty());
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }
}
