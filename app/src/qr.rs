//! QR codes as SVG, rendered on the server (no QR code library in the browser bundle).

/// The SVG of a QR code for `text` (dark modules on white, with a quiet zone, as phones scan best),
/// or `None` when the text is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(256, 256)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_an_svg_and_refuses_what_cannot_fit() {
        let svg = super::svg("https://wa.me/settings/linked_devices#2@abc,def,ghi,jkl,1").unwrap();
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{}",
            &svg[..40]
        );
        assert!(svg.contains("</svg>"));
        assert!(super::svg(&"x".repeat(10_000)).is_none());
    }
}
