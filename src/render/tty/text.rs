//! The lines of the tty view, BuildKit's wording: `[+] Building 3.2s
//! (5/9)`, ` => [2/4] RUN make    1.2s`, ` => => # output`, ` => => sha256:…
//! 1.2MB / 4.5MB`. Every line is cut to the terminal's width here, in
//! columns, so a narrow terminal never wraps a line and breaks the redraw.

use std::time::Duration;
use unicode_width::UnicodeWidthChar;

/// How a line is coloured: BuildKit's blue for finished steps, red for
/// failures, dim step output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tone {
    Normal,
    Dim,
    Done,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    pub text: String,
    pub tone: Tone,
}

impl Line {
    fn new(text: String, tone: Tone) -> Line {
        Line { text, tone }
    }

    /// The text with its colour, if colours are wanted. Codes go around
    /// the cut text, so they never count toward its width.
    pub fn painted(&self, color: bool) -> String {
        let code = match self.tone {
            _ if !color => return self.text.clone(),
            Tone::Normal => return self.text.clone(),
            Tone::Dim => "2",
            Tone::Done => "34",
            Tone::Error => "31",
        };
        format!("\x1b[{code}m{}\x1b[0m", self.text)
    }
}

/// `[+] Building 3.2s (5/9)`, with ` FINISHED` once all is done.
pub(super) fn header(
    elapsed: Duration,
    done: usize,
    total: usize,
    finished: bool,
    width: usize,
) -> Line {
    let secs = elapsed.as_secs_f64();
    let mut text = format!("[+] Building {secs:.1}s ({done}/{total})");
    if finished {
        text.push_str(" FINISHED");
    }
    let tone = if finished { Tone::Done } else { Tone::Normal };
    Line::new(truncate(&text, width), tone)
}

/// ` => LABEL name` with the step's time at the right edge.
pub(super) fn vertex_line(
    label: &str,
    name: &str,
    elapsed: Duration,
    tone: Tone,
    width: usize,
) -> Line {
    let left = format!(" => {label}{}", clean(name));
    let right = format!("{:.1}s", elapsed.as_secs_f64());
    Line::new(right_align(&left, &right, width), tone)
}

/// One line of a step's output, as ` => => # line`.
pub(super) fn log_line(text: &str, width: usize) -> Line {
    Line::new(
        truncate(&format!(" => => # {}", clean(text)), width),
        Tone::Dim,
    )
}

/// A status of the CLI's own vertices (` => => writing image sha256:...`):
/// not command output, so no `#` and not dimmed.
pub(super) fn status_line(text: &str, width: usize) -> Line {
    Line::new(
        truncate(&format!(" => => {}", clean(text)), width),
        Tone::Normal,
    )
}

/// Inner width of a byte bar, when the line has room for one.
const BAR: usize = 20;

/// ` => => sha256:0123456789ab [=====>    ] 1.20MB / 4.50MB`; the bar goes
/// first when the terminal is narrow, and without a known total only the
/// bytes so far show.
pub(super) fn blob_line(id: &str, current: u64, total: u64, width: usize) -> Line {
    let head = format!(" => => {}", short_id(id));
    let text = if total == 0 {
        format!("{head} {}", human(current))
    } else {
        let sizes = format!("{} / {}", human(current), human(total));
        let with_bar = format!("{head} {} {sizes}", bar(current, total, BAR));
        match text_width(&with_bar) <= width {
            true => with_bar,
            false => format!("{head} {sizes}"),
        }
    };
    Line::new(truncate(&text, width), Tone::Normal)
}

/// `sha256:` and the first 12 hex digits, as Docker abbreviates digests.
fn short_id(id: &str) -> String {
    match id.split_once(':') {
        Some((algo, hex)) => format!("{algo}:{}", hex.get(..12).unwrap_or(hex)),
        None => id.to_string(),
    }
}

/// `[=====>    ]` with `inner` cells between the brackets.
fn bar(current: u64, total: u64, inner: usize) -> String {
    let filled = (current.min(total) as u128 * inner as u128 / total.max(1) as u128) as usize;
    let mut s = String::from("[");
    s.push_str(&"=".repeat(filled));
    if filled < inner {
        s.push('>');
        s.push_str(&" ".repeat(inner - filled - 1));
    }
    s.push(']');
    s
}

/// Decimal sizes with three significant digits, as BuildKit shows them.
pub(super) fn human(bytes: u64) -> String {
    match crate::units::scaled(bytes) {
        (_, "B") => format!("{bytes}B"),
        (v, unit) if v < 10.0 => format!("{v:.2}{unit}"),
        (v, unit) if v < 100.0 => format!("{v:.1}{unit}"),
        (v, unit) => format!("{v:.0}{unit}"),
    }
}

/// `left`, spaces, then `right` ending at column `width`; `left` is cut
/// first so the time always shows.
fn right_align(left: &str, right: &str, width: usize) -> String {
    let need = text_width(right) + 1;
    if width <= need {
        return truncate(&format!("{left} {right}"), width);
    }
    let left = truncate(left, width - need);
    let pad = width - text_width(&left) - text_width(right);
    format!("{left}{}{right}", " ".repeat(pad))
}

/// Columns `s` takes on a terminal.
pub(super) fn text_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// `s` cut to at most `width` columns, with `…` marking the cut.
pub(super) fn truncate(s: &str, width: usize) -> String {
    if text_width(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Text safe to place on one line of the view: a step's own escape
/// sequences and control characters would move the cursor under the
/// renderer's feet, so they go; tabs become spaces.
fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => skip_escape(&mut chars),
            '\t' => {
                let col = text_width(&out);
                out.push_str(&" ".repeat(8 - col % 8));
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Skips the rest of an escape sequence: `ESC [ params final` (CSI), `ESC ]
/// ... BEL` (OSC), or `ESC` and one character.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vertex_lines_put_the_time_at_the_right_edge() {
        let l = vertex_line(
            "",
            "[2/4] RUN make",
            Duration::from_millis(1234),
            Tone::Normal,
            30,
        );
        assert_eq!(l.text, " => [2/4] RUN make        1.2s");
        assert_eq!(text_width(&l.text), 30);
        let l = vertex_line("CACHED ", "[3/4] COPY . /", Duration::ZERO, Tone::Done, 32);
        assert_eq!(l.text, " => CACHED [3/4] COPY . /   0.0s");
    }

    #[test]
    fn long_names_are_cut_but_keep_their_time() {
        let name = "[2/2] RUN echo one && sleep 1 && echo two && echo three";
        let l = vertex_line("ERROR ", name, Duration::from_secs(3), Tone::Error, 30);
        assert_eq!(l.text, " => ERROR [2/2] RUN echo… 3.0s");
        assert_eq!(text_width(&l.text), 30);
    }

    #[test]
    fn every_line_fits_the_width() {
        for width in [1, 5, 19, 20, 33, 80] {
            let lines = [
                header(Duration::from_secs(12), 3, 10, true, width),
                vertex_line(
                    "",
                    "[1/9] RUN ./configure --prefix=/usr",
                    Duration::ZERO,
                    Tone::Normal,
                    width,
                ),
                log_line(
                    "checking for gcc... gcc, checking whether we are cross compiling",
                    width,
                ),
                blob_line(
                    &format!("sha256:{}", "0f".repeat(32)),
                    1 << 20,
                    9 << 20,
                    width,
                ),
                log_line(
                    "全角文字はふたつの列を使います、全角文字はふたつの列を使います",
                    width,
                ),
            ];
            for l in lines {
                assert!(text_width(&l.text) <= width, "{width}: {:?}", l.text);
            }
        }
    }

    #[test]
    fn truncation_counts_columns_and_marks_the_cut() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello world", 8), "hello w…");
        assert_eq!(truncate("全角文字", 5), "全角…");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn step_output_cannot_move_the_cursor() {
        let l = log_line(
            "\x1b[2K\x1b[1A\x1b]0;title\x07red \x1b[31mtext\x1b[0m\x08!",
            80,
        );
        assert_eq!(l.text, " => => # red text!");
    }

    #[test]
    fn blob_lines_show_a_bar_when_there_is_room() {
        let id = format!("sha256:{}", "ab".repeat(32));
        let l = blob_line(&id, 1_200_000, 4_500_000, 80);
        assert_eq!(
            l.text,
            " => => sha256:abababababab [=====>              ] 1.20MB / 4.50MB"
        );
        let l = blob_line(&id, 1_200_000, 4_500_000, 50);
        assert_eq!(l.text, " => => sha256:abababababab 1.20MB / 4.50MB");
        assert_eq!(
            blob_line(&id, 999, 0, 80).text,
            " => => sha256:abababababab 999B"
        );
    }

    #[test]
    fn sizes_have_three_digits() {
        let cases = [
            (0, "0B"),
            (999, "999B"),
            (1000, "1.00kB"),
            (45_600, "45.6kB"),
            (123_456_789, "123MB"),
        ];
        for (n, want) in cases {
            assert_eq!(human(n), want);
        }
    }

    #[test]
    fn colours_wrap_the_text_only_when_wanted() {
        let l = Line::new("x".into(), Tone::Error);
        assert_eq!(l.painted(true), "\x1b[31mx\x1b[0m");
        assert_eq!(l.painted(false), "x");
        assert_eq!(Line::new("y".into(), Tone::Normal).painted(true), "y");
    }
}
