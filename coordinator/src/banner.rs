//! What the coordinator prints when it starts: the URL to open and the same URL as a QR
//! code drawn in the terminal, so a phone can join from the console of a headless box.

use std::net::SocketAddr;

use qrcode_generator::QrCodeEcc;

use crate::tls::Tls;

/// Light modules around the code; scanners need a quiet zone.
const QUIET: usize = 2;

/// Prints where to open the coordinator, the certificate's fingerprint with `--tls`, and
/// the URL as a QR code.
pub fn print(url: &str, plain: Option<SocketAddr>, tls: Option<&Tls>) {
    println!("Ostrich-Legs coordinator: open {url} to become the master of a new swarm");
    if let Some(tls) = tls {
        println!("HTTPS certificate {} (SHA-256 {})", tls.cert_path.display(), tls.fingerprint);
        if let Some(plain) = plain {
            println!("Plain HTTP on port {} (browsers allow WebGPU there only on localhost)", plain.port());
        }
    }
    if let Some(qr) = terminal_qr(url) {
        println!("{qr}");
    }
}

/// `text` as a QR code in Unicode half blocks, two modules per character row. Light
/// modules are drawn and dark ones left blank, so the code reads as dark on light in a
/// terminal with a dark background, as scanners expect. `None` if `text` is too long.
pub fn terminal_qr(text: &str) -> Option<String> {
    let matrix = qrcode_generator::to_matrix(text, QrCodeEcc::Low).ok()?;
    let size = matrix.len();
    let light = |row: usize, col: usize| -> bool {
        let (r, c) = (row.checked_sub(QUIET), col.checked_sub(QUIET));
        match (r, c) {
            (Some(r), Some(c)) if r < size && c < size => !matrix[r][c],
            _ => true,
        }
    };
    let edge = size + 2 * QUIET;
    let mut out = String::with_capacity(edge * edge);
    for row in (0..edge).step_by(2) {
        for col in 0..edge {
            let bottom = row + 1 < edge && light(row + 1, col);
            out.push(match (light(row, col), bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_is_square_with_a_quiet_zone() {
        let url = "https://192.168.1.20:8443/join?token=K3M9QX2B";
        let text = terminal_qr(url).expect("fits");
        let rows: Vec<&str> = text.lines().collect();
        let width = rows[0].chars().count();
        let size = qrcode_generator::to_matrix(url, QrCodeEcc::Low).expect("matrix").len();
        assert_eq!(width, size + 2 * QUIET);
        assert_eq!(rows.len(), width.div_ceil(2));
        assert!(rows.iter().all(|r| r.chars().count() == width));
        assert!(rows[0].chars().all(|c| c == '█'), "the quiet zone is light");
        assert!(text.contains(' '), "dark modules are left blank");
    }
}
