//! Ed25519 key pairs in OpenSSH formats for the ssh job plugin. Volcano generates RSA keys; Basalt
//! uses Ed25519 (every OpenSSH since 6.5 accepts it, and `ring` generates it without extra crates).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::plugins::SshKeys;

/// Key generation failed (the system random source is unavailable).
#[derive(Debug, thiserror::Error)]
#[error("generating an ssh key for job {job:?} failed: the system random source is unavailable")]
pub struct KeyError {
    /// The job the key was for.
    pub job: String,
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Generates a fresh key pair; `comment` ends up in both keys.
pub fn generate(job: &str) -> Result<SshKeys, KeyError> {
    let rng = SystemRandom::new();
    let mut seed = [0u8; 32];
    rng.fill(&mut seed).map_err(|_| KeyError {
        job: job.to_owned(),
    })?;
    let mut check = [0u8; 4];
    rng.fill(&mut check).map_err(|_| KeyError {
        job: job.to_owned(),
    })?;
    let pair = Ed25519KeyPair::from_seed_unchecked(&seed).map_err(|_| KeyError {
        job: job.to_owned(),
    })?;
    Ok(encode(&seed, pair.public_key().as_ref(), check, job))
}

/// Encodes a seed and public key (pure; used by `generate` and tests).
pub fn encode(seed: &[u8; 32], public: &[u8], check: [u8; 4], comment: &str) -> SshKeys {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    let mut private = Vec::new();
    private.extend_from_slice(&check);
    private.extend_from_slice(&check);
    put_string(&mut private, b"ssh-ed25519");
    put_string(&mut private, public);
    let mut secret = seed.to_vec();
    secret.extend_from_slice(public);
    put_string(&mut private, &secret);
    put_string(&mut private, comment.as_bytes());
    let mut pad = 1u8;
    while private.len() % 8 != 0 {
        private.push(pad);
        pad += 1;
    }
    let mut file = b"openssh-key-v1\0".to_vec();
    put_string(&mut file, b"none");
    put_string(&mut file, b"none");
    put_string(&mut file, b"");
    file.extend_from_slice(&1u32.to_be_bytes());
    put_string(&mut file, &blob);
    put_string(&mut file, &private);
    let b64 = STANDARD.encode(&file);
    let mut pem = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        pem.push_str(&String::from_utf8_lossy(chunk));
        pem.push('\n');
    }
    pem.push_str("-----END OPENSSH PRIVATE KEY-----\n");
    SshKeys {
        private: pem,
        public: format!("ssh-ed25519 {} {comment}\n", STANDARD.encode(&blob)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_openssh_shape() {
        let keys = generate("job").unwrap();
        assert!(keys.public.starts_with("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"));
        assert!(
            keys.private
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE")
        );
        let other = generate("job").unwrap();
        assert_ne!(keys.public, other.public, "two jobs must not share a key");
    }
}
