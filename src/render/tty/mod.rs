//! The live terminal view (`--progress=tty`, the default on a terminal):
//! BuildKit's tty frame redrawn in place with indicatif, a timer on every
//! running step, its last output lines and byte bars under it, collapsing
//! to a summary when the build ends.
//!
//! The frame itself is plain text from [`model`]; this file only owns the
//! terminal. Without a usable terminal (stderr not one, `TERM=dumb` or
//! unset, fewer than [`MIN_WIDTH`] columns) it prints the plain format.

mod model;
mod text;

use super::plain::Plain;
use super::sink::Sink;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use model::Model;
use mybuild_solver::ProgressEvent;
use std::io::Write as _;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Narrower than this, a frame would be mostly `…`: plain output reads better.
const MIN_WIDTH: usize = 20;
/// How often running timers advance.
const TICK: Duration = Duration::from_millis(100);
/// Caps the redraws indicatif makes by itself as bar messages change; each
/// tick ends in a forced redraw anyway (see [`Screen::show`]).
const MAX_REDRAWS: u8 = 20;

pub struct Tty(View);

enum View {
    Live(Live),
    Plain(Plain),
}

impl Tty {
    pub fn new() -> Tty {
        match Live::start() {
            Some(live) => Tty(View::Live(live)),
            None => Tty(View::Plain(Plain::default())),
        }
    }
}

impl Sink for Tty {
    fn event(&mut self, ev: ProgressEvent) {
        match &mut self.0 {
            View::Live(live) => lock(&live.screen).model.event(ev),
            View::Plain(plain) => {
                let _ = plain.event(&mut std::io::stderr().lock(), ev);
            }
        }
    }

    fn finish(&mut self) {
        if let View::Live(live) = &mut self.0 {
            live.stop();
            lock(&live.screen).collapse();
        }
    }
}

/// The view while it is drawn: the screen, shared with a thread that
/// redraws it every [`TICK`] (events only change the model, so a burst of
/// output costs one redraw, not one per line).
struct Live {
    screen: Arc<Mutex<Screen>>,
    stop: Option<mpsc::Sender<()>>,
    ticker: Option<JoinHandle<()>>,
}

impl Live {
    fn start() -> Option<Live> {
        let (cols, _) = term_size()?;
        let target = ProgressDrawTarget::stderr_with_hz(MAX_REDRAWS);
        if cols < MIN_WIDTH || target.is_hidden() {
            return None;
        }
        let screen = Arc::new(Mutex::new(Screen {
            model: Model::new(Instant::now()),
            multi: MultiProgress::with_draw_target(target),
            bars: Vec::new(),
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }));
        let (stop, stopped) = mpsc::channel::<()>();
        let shared = screen.clone();
        let ticker = std::thread::Builder::new()
            .name("tty-progress".into())
            .spawn(move || {
                // A message or a hang-up both mean stop.
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TICK) {
                    lock(&shared).draw();
                }
            })
            .ok()?;
        Some(Live {
            screen,
            stop: Some(stop),
            ticker: Some(ticker),
        })
    }

    fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Live {
    /// Dropped without `finish` (the runtime went down): the last frame
    /// stays as it is, nothing draws over what comes next.
    fn drop(&mut self) {
        self.stop();
    }
}

/// A poisoned lock only means a redraw panicked; the model is still whole.
fn lock(screen: &Mutex<Screen>) -> MutexGuard<'_, Screen> {
    screen.lock().unwrap_or_else(|p| p.into_inner())
}

/// The model and what indicatif draws of it: one bar per block of the
/// frame (the header, then a step with its output), each showing its block
/// as a multi-line message.
struct Screen {
    model: Model,
    multi: MultiProgress,
    bars: Vec<(ProgressBar, String)>,
    color: bool,
}

impl Screen {
    fn draw(&mut self) {
        let (cols, rows) = term_size().unwrap_or((80, 24));
        let blocks = self.model.frame(Instant::now(), cols, rows);
        let texts = blocks
            .iter()
            .map(|lines| paint(lines, self.color).join("\n"))
            .collect();
        self.show(texts);
    }

    /// Makes the bars show `texts`, touching only blocks that changed, and
    /// redraws once: indicatif's own rate limit could otherwise skip the
    /// last change of a tick.
    fn show(&mut self, texts: Vec<String>) {
        while self.bars.len() > texts.len() {
            if let Some((bar, _)) = self.bars.pop() {
                self.multi.remove(&bar);
            }
        }
        for (i, text) in texts.into_iter().enumerate() {
            match self.bars.get_mut(i) {
                Some((_, shown)) if *shown == text => {}
                Some((bar, shown)) => {
                    bar.set_message(text.clone());
                    *shown = text;
                }
                None => {
                    let bar = self.multi.add(block_bar());
                    bar.set_message(text.clone());
                    self.bars.push((bar, text));
                }
            }
        }
        if let Some((header, _)) = self.bars.first() {
            header.force_draw();
        }
    }

    /// Clears the live frame and prints the summary in its place, for the
    /// scrollback.
    fn collapse(&mut self) {
        for (bar, _) in self.bars.drain(..) {
            self.multi.remove(&bar);
        }
        let _ = self.multi.clear();
        let cols = term_size().map_or(80, |(c, _)| c);
        let summary = self.model.summary(Instant::now(), cols);
        let mut err = std::io::stderr().lock();
        for line in paint(&summary, self.color) {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

fn paint(lines: &[text::Line], color: bool) -> Vec<String> {
    lines.iter().map(|l| l.painted(color)).collect()
}

/// A bar that is only its message: the frame's text is made by [`model`].
fn block_bar() -> ProgressBar {
    let style =
        ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_spinner());
    ProgressBar::new_spinner().with_style(style)
}

/// Stderr's terminal size as (columns, rows), asked each frame so a resized
/// window gets lines of its new width; `None` when stderr is no terminal.
fn term_size() -> Option<(usize, usize)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which
    // points at a live, writable `winsize` for the whole call.
    let rc = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then_some((usize::from(ws.ws_col), usize::from(ws.ws_row.max(1))))
}
