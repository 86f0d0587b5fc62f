//! The gate badge (pure): a shields.io-style SVG (`flat` and `flat-square`), laid out with the
//! real advance widths of an embedded font (DejaVu Sans, assets/fonts/, Bitstream Vera
//! license), and its PNG rasterized with resvg from the same SVG using a font database that
//! holds only that embedded font, so rendering needs no system fonts and no network.
//!
//! ```
//! use codeloop::badge;
//! let b = badge::for_gate(Some(92.0), Some(codeloop::model::Verdict::Pass), &Default::default());
//! assert_eq!(b.message, "92 · passing");
//! assert_eq!(badge::for_gate(Some(61.5), None, &Default::default()).message, "no gate");
//! let svg = badge::svg(&b);
//! let png = badge::png(&svg, 2.0).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//! ```

use std::sync::{Arc, OnceLock};

use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};

use crate::model::Verdict;
use crate::settings::{BadgeConfig, BadgeStyle};

/// The embedded font (DejaVu Sans 2.37, from Debian's fonts-dejavu-core).
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The family name inside [`FONT`].
pub const FONT_FAMILY: &str = "DejaVu Sans";
/// Font size of badge text, px (as shields).
const FONT_SIZE: f32 = 11.0;
/// Horizontal padding on each side of a text, px.
const PAD: f32 = 6.0;
const HEIGHT: u32 = 20;

/// Errors from rasterizing a badge.
#[derive(Debug, thiserror::Error)]
pub enum BadgeError {
    #[error("the badge SVG is invalid: {0}")]
    Svg(String),
    #[error("cannot rasterize a {0}x{1} badge")]
    Size(u32, u32),
    #[error("cannot encode the badge PNG: {0}")]
    Png(String),
}

/// What a badge says and how it looks.
#[derive(Clone, Debug, PartialEq)]
pub struct Badge {
    pub label: String,
    pub message: String,
    pub label_color: String,
    pub color: String,
    pub style: BadgeStyle,
}

/// The badge for a gate: `92 · passing` / `41 · failing`, colored by verdict and score
/// (pass at ≥ 80: pass color; pass below 80: warn color; fail: fail color). No gate yet:
/// `no gate`, grey.
pub fn for_gate(score: Option<f64>, verdict: Option<Verdict>, cfg: &BadgeConfig) -> Badge {
    let s = score.filter(|s| s.is_finite()).map(|s| s.clamp(0.0, 100.0));
    let (message, color) = match (s, verdict) {
        (Some(s), Some(Verdict::Pass)) => (
            format!("{} · passing", crate::report::fmt_score(s)),
            if s >= 80.0 {
                &cfg.pass_color
            } else {
                &cfg.warn_color
            },
        ),
        (Some(s), Some(Verdict::Fail)) => (
            format!("{} · failing", crate::report::fmt_score(s)),
            &cfg.fail_color,
        ),
        (None, Some(Verdict::Pass)) => ("passing".into(), &cfg.pass_color),
        (None, Some(Verdict::Fail)) => ("failing".into(), &cfg.fail_color),
        (_, None) => ("no gate".into(), &"#9f9f9f".to_string()),
    };
    Badge {
        label: cfg.label.clone(),
        message,
        label_color: color_or(&cfg.label_color, "#555"),
        color: color_or(color, "#9f9f9f"),
        style: cfg.style,
    }
}

/// A CSS hex color (`#4c1`, `#44cc11`) or a plain color name; anything else (which could
/// break out of the attribute) falls back.
fn color_or(c: &str, fallback: &str) -> String {
    let c = c.trim();
    let hex = c.len() <= 9
        && c.starts_with('#')
        && matches!(c.len(), 4 | 5 | 7 | 9)
        && c[1..].chars().all(|x| x.is_ascii_hexdigit());
    let name = (1..=20).contains(&c.len()) && c.chars().all(|x| x.is_ascii_alphabetic());
    if hex || name {
        c.to_string()
    } else {
        fallback.to_string()
    }
}

fn font() -> Option<skrifa::FontRef<'static>> {
    skrifa::FontRef::new(FONT).ok()
}

/// Width in px of `text` at the badge's font size, from the embedded font's advance widths
/// (characters the font lacks count as its `.notdef` glyph, as the renderer draws them).
pub fn text_width(text: &str) -> f32 {
    let Some(f) = font() else {
        return text.chars().count() as f32 * 7.0;
    };
    let charmap = f.charmap();
    let metrics = f.glyph_metrics(Size::new(FONT_SIZE), LocationRef::default());
    text.chars()
        .map(|c| {
            let gid = charmap.map(c).unwrap_or_default();
            metrics.advance_width(gid).unwrap_or(FONT_SIZE * 0.6)
        })
        .sum()
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Perceived brightness 0..1 of a hex color; names count as dark.
fn brightness(c: &str) -> f32 {
    let h = c.trim_start_matches('#');
    if !h.is_ascii() {
        return 0.0;
    }
    let (r, g, b) = match h.len() {
        3 | 4 => {
            let d = |i: usize| u8::from_str_radix(&h[i..i + 1].repeat(2), 16).unwrap_or(0);
            (d(0), d(1), d(2))
        }
        6 | 8 => {
            let d = |i: usize| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0);
            (d(0), d(2), d(4))
        }
        _ => return 0.0,
    };
    (0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32) / 255.0
}

/// Rounds to one decimal, as SVG coordinates.
fn r1(x: f32) -> String {
    let v = (x * 10.0).round() / 10.0;
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A badge's measured parts, XML-escaped, for a user `badge.svg` template
/// (`report.template_dir`): the same texts, colors and widths the built-in badge uses.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Layout {
    pub label: String,
    pub message: String,
    pub label_color: String,
    pub color: String,
    /// Width of the label box and of the message box (text plus padding), px.
    pub label_width: String,
    pub message_width: String,
    /// Whole badge, px.
    pub width: String,
    pub height: u32,
    /// Text widths alone (for `textLength`), px.
    pub label_text_width: String,
    pub message_text_width: String,
}

/// The measured parts of `b` ([`Layout`]).
pub fn layout(b: &Badge) -> Layout {
    let label = super::report::escape::truncate_chars(&b.label, 60);
    let message = super::report::escape::truncate_chars(&b.message, 60);
    let lw_text = text_width(&label);
    let mw_text = text_width(&message);
    let lw = (lw_text + 2.0 * PAD).round();
    let mw = (mw_text + 2.0 * PAD).round();
    Layout {
        label: xml_escape(&label),
        message: xml_escape(&message),
        label_color: color_or(&b.label_color, "#555"),
        color: color_or(&b.color, "#9f9f9f"),
        label_width: r1(lw),
        message_width: r1(mw),
        width: r1(lw + mw),
        height: HEIGHT,
        label_text_width: r1(lw_text),
        message_text_width: r1(mw_text),
    }
}

/// The badge as SVG text.
pub fn svg(b: &Badge) -> String {
    let label = super::report::escape::truncate_chars(&b.label, 60);
    let message = super::report::escape::truncate_chars(&b.message, 60);
    let lw_text = text_width(&label);
    let mw_text = text_width(&message);
    let lw = (lw_text + 2.0 * PAD).round();
    let mw = (mw_text + 2.0 * PAD).round();
    let w = lw + mw;
    let (label_e, msg_e) = (xml_escape(&label), xml_escape(&message));
    let flat = b.style == BadgeStyle::Flat;
    let rx = if flat { "3" } else { "0" };
    let text_for = |bg: &str| {
        if brightness(bg) > 0.69 {
            ("#333", "#ccc")
        } else {
            ("#fff", "#010101")
        }
    };
    // Badge fields are public: check the colors again, they go into attributes.
    let label_color = color_or(&b.label_color, "#555");
    let color = color_or(&b.color, "#9f9f9f");
    let (lfg, lshadow) = text_for(&label_color);
    let (mfg, mshadow) = text_for(&color);
    let mut s = String::with_capacity(1500);
    s.push_str(&format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{HEIGHT}" role="img" aria-label="{label_e}: {msg_e}">"#,
        w = r1(w)
    ));
    s.push_str(&format!("<title>{label_e}: {msg_e}</title>"));
    if flat {
        s.push_str(r##"<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>"##);
    }
    s.push_str(&format!(
        r##"<clipPath id="r"><rect width="{w}" height="{HEIGHT}" rx="{rx}" fill="#fff"/></clipPath>"##,
        w = r1(w)
    ));
    s.push_str(&format!(
        r#"<g clip-path="url(#r)"><rect width="{lw}" height="{HEIGHT}" fill="{lc}"/><rect x="{lw}" width="{mw}" height="{HEIGHT}" fill="{mc}"/>"#,
        lw = r1(lw),
        mw = r1(mw),
        lc = label_color,
        mc = color
    ));
    if flat {
        s.push_str(&format!(
            r#"<rect width="{w}" height="{HEIGHT}" fill="url(#s)"/>"#,
            w = r1(w)
        ));
    }
    s.push_str("</g>");
    s.push_str(&format!(
        r#"<g text-anchor="middle" font-family="{FONT_FAMILY},Verdana,Geneva,sans-serif" text-rendering="geometricPrecision" font-size="{FONT_SIZE}">"#
    ));
    for (text, x, tw, fg, shadow) in [
        (&label_e, lw / 2.0, lw_text, lfg, lshadow),
        (&msg_e, lw + mw / 2.0, mw_text, mfg, mshadow),
    ] {
        // textLength pins the width in browsers that substitute another font.
        if flat {
            s.push_str(&format!(
                r#"<text aria-hidden="true" x="{x}" y="15" fill="{shadow}" fill-opacity=".3" textLength="{tw}" lengthAdjust="spacingAndGlyphs">{text}</text>"#,
                x = r1(x),
                tw = r1(tw)
            ));
        }
        s.push_str(&format!(
            r#"<text x="{x}" y="14" fill="{fg}" textLength="{tw}" lengthAdjust="spacingAndGlyphs">{text}</text>"#,
            x = r1(x),
            tw = r1(tw)
        ));
    }
    s.push_str("</g></svg>\n");
    s
}

fn fontdb() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        // Only the embedded font: never the system's, so the PNG is the same everywhere.
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_sans_serif_family(FONT_FAMILY);
        Arc::new(db)
    })
    .clone()
}

/// Rasterizes a badge SVG at `scale` (2.0 for sharp README badges) to PNG bytes.
pub fn png(svg: &str, scale: f32) -> Result<Vec<u8>, BadgeError> {
    png_with_fonts(svg, scale, fontdb())
}

/// [`png`] with a given font database (tests pass one with nothing but the embedded font).
pub fn png_with_fonts(
    svg: &str,
    scale: f32,
    fonts: Arc<usvg::fontdb::Database>,
) -> Result<Vec<u8>, BadgeError> {
    let opt = usvg::Options {
        font_family: FONT_FAMILY.to_string(),
        fontdb: fonts,
        ..Default::default()
    };
    let tree = usvg::Tree::from_str(svg, &opt).map_err(|e| BadgeError::Svg(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).ok_or(BadgeError::Size(w, h))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| BadgeError::Png(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_come_from_the_font() {
        // DejaVu Sans advance of "m" is 1995/2048 em; at 11 px ≈ 10.7.
        let m = text_width("m");
        assert!((m - 10.72).abs() < 0.05, "{m}");
        assert!(text_width("iiii") < text_width("MMMM"));
    }

    #[test]
    fn colors_follow_verdict_and_score() {
        let c = BadgeConfig::default();
        assert_eq!(
            for_gate(Some(92.4), Some(Verdict::Pass), &c).color,
            c.pass_color
        );
        assert_eq!(
            for_gate(Some(70.0), Some(Verdict::Pass), &c).color,
            c.warn_color
        );
        let f = for_gate(Some(41.0), Some(Verdict::Fail), &c);
        assert_eq!(
            (f.message.as_str(), f.color.as_str()),
            ("41 · failing", "#e05d44")
        );
        assert_eq!(for_gate(None, None, &c).message, "no gate");
    }

    #[test]
    fn hostile_label_and_colors_cannot_break_the_svg() {
        let cfg = BadgeConfig {
            label: "<x>&\"'".into(),
            pass_color: "red\" onload=\"x".into(),
            ..Default::default()
        };
        let s = svg(&for_gate(Some(99.0), Some(Verdict::Pass), &cfg));
        assert!(
            s.contains("&lt;x&gt;&amp;&quot;&apos;") && !s.contains("onload"),
            "{s}"
        );
        assert!(s.contains(r##"fill="#9f9f9f""##), "{s}");
        // A Badge built by hand is checked too (and odd bytes do not panic).
        let hand = Badge {
            label: "x".into(),
            message: "y".into(),
            label_color: "#aé".into(),
            color: "\"/><script>".into(),
            style: BadgeStyle::FlatSquare,
        };
        let s = svg(&hand);
        assert!(
            !s.contains("<script>") && s.contains(r##"fill="#555""##),
            "{s}"
        );
    }
}
