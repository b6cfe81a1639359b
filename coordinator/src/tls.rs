//! HTTPS for the LAN: browsers give WebGPU only to secure contexts, so a phone needs the
//! coordinator over https. The certificate is the user's (`--tls-cert`, `--tls-key`) or one
//! generated on first start for every LAN address and name of this box, kept in the data
//! directory so it stays the same across restarts. Its SHA-256 fingerprint is shown on the
//! console and in the dashboard, so a phone user can check what they accept.

use std::{
    fs,
    net::IpAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use sha2::{Digest, Sha256};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate or key file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The PEM held no usable certificate or key.
    #[error("{0}")]
    Pem(String),
    /// Generating the certificate failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the certificate and key.
    #[error("unusable certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A certificate ready to serve.
pub struct Tls {
    /// The rustls configuration.
    pub config: ServerConfig,
    /// SHA-256 of the leaf certificate, as colon-separated hex pairs.
    pub fingerprint: String,
    /// Where the certificate is.
    pub cert_path: PathBuf,
}

/// The generated certificate and key inside the data directory.
pub fn generated_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Loads the user's certificate, or the generated one from `data_dir`, generating it on
/// first start for `names` (host names and addresses).
pub fn load_or_generate(user: Option<(&Path, &Path)>, data_dir: &Path, names: &[String]) -> Result<Tls, TlsError> {
    let (cert_path, key_path) = match user {
        Some((cert, key)) => (cert.to_path_buf(), key.to_path_buf()),
        None => {
            let (cert, key) = generated_paths(data_dir);
            if !cert.exists() || !key.exists() {
                generate(&cert, &key, names)?;
            }
            (cert, key)
        }
    };
    let read = |path: &Path| fs::read(path).map_err(|source| TlsError::Io { path: path.to_path_buf(), source });
    let cert_pem = read(&cert_path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem(format!("{}: {e}", cert_path.display())))?;
    let leaf = certs.first().ok_or_else(|| TlsError::Pem(format!("{}: no certificate", cert_path.display())))?;
    let fingerprint = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(&read(&key_path)?)
        .map_err(|e| TlsError::Pem(format!("{}: {e}", key_path.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Tls { config, fingerprint, cert_path })
}

/// Writes a self-signed certificate for `names` and its key (mode 0600).
fn generate(cert_path: &Path, key_path: &Path, names: &[String]) -> Result<(), TlsError> {
    let generated = rcgen::generate_simple_self_signed(names.to_vec())?;
    let write = |path: &Path, text: String, private: bool| -> Result<(), TlsError> {
        let io = |source| TlsError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io)?;
        }
        fs::write(path, text).map_err(io)?;
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        Ok(())
    };
    write(key_path, generated.signing_key.serialize_pem(), true)?;
    write(cert_path, generated.cert.pem(), false)?;
    log::info!("generated a TLS certificate for {} in {}", names.join(", "), cert_path.display());
    Ok(())
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex pairs, the form browsers
/// show in their certificate viewers.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// The names a generated certificate covers: localhost, this host's name and every
/// address of its interfaces.
pub fn local_names(addresses: &[IpAddr]) -> Vec<String> {
    let mut names = vec!["localhost".to_string()];
    if let Some(host) = fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string())
        && !host.is_empty()
    {
        names.push(format!("{host}.local"));
        names.push(host);
    }
    names.extend(addresses.iter().map(IpAddr::to_string));
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_kept_and_reused() {
        let dir = std::env::temp_dir().join(format!("ostrich-tls-{}", uuid::Uuid::new_v4()));
        let names = local_names(&["192.168.1.20".parse().expect("ip")]);
        assert!(names.contains(&"localhost".to_string()) && names.contains(&"192.168.1.20".to_string()));
        let first = load_or_generate(None, &dir, &names).expect("generated");
        let second = load_or_generate(None, &dir, &["other".to_string()]).expect("reloaded");
        assert_eq!(first.fingerprint, second.fingerprint, "the same certificate after a restart");
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
        let (_, key) = generated_paths(&dir);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key).expect("key").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the key is private");
        }
        fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn a_bad_user_certificate_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("ostrich-tls-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("dir");
        let (cert, key) = (dir.join("c.pem"), dir.join("k.pem"));
        fs::write(&cert, "not a certificate").expect("write");
        fs::write(&key, "not a key").expect("write");
        let error = load_or_generate(Some((&cert, &key)), &dir, &[]).err().expect("refused");
        assert!(error.to_string().contains("c.pem"), "{error}");
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
