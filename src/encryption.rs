//! Block-level encryption at rest: [`EncryptionProvider`], set with
//! [`Config::with_encryption`](crate::Config::with_encryption).
//!
//! With a provider, every block a table file holds (data, index, filter, range-tombstone and meta
//! blocks) and every blob record of key-value separation is encrypted after compression and
//! before its checksum: the checksum covers the bytes on disk, so damage is found without
//! decrypting, and a read verifies the checksum, decrypts, then decompresses. An encrypted block
//! sets bit 7 of its header's compression byte (`docs/format.md`, section 3). The provider's
//! output is opaque to Strata (a nonce and a tag are its business); Strata only stores it.
//!
//! What stays in plaintext: each file's 72-byte footer (block handles, the format version), the
//! block headers (types and lengths), the manifest (table ids, levels, and each table's smallest
//! and largest user key), and a `Database`'s write-ahead log.
//!
//! Tables written without a provider stay readable after one is set (and are rewritten
//! encrypted by compaction); an encrypted block read without a provider is
//! [`Error::Decrypt`](crate::Error::Decrypt), never wrong data.
//!
//! Thread safety: a provider is shared by every flush, compaction and read thread of the tree,
//! so it is `Send + Sync` and its methods take `&self`.

use crate::Result;

/// Encrypts and decrypts blocks; see the [module documentation](self).
///
/// Strata ships no cipher (the engine stays free of cryptographic dependencies): implement this
/// over the AEAD of your choice (AES-256-GCM, ChaCha20-Poly1305) with a unique nonce per call,
/// stored in the output. `decrypt` must accept exactly what `encrypt` returned and fail, not
/// return other bytes, for anything else: Strata's checksum finds damage on disk, but only an
/// authenticated cipher finds bytes written with another key.
///
/// ```
/// use std::sync::Arc;
/// use strata::{Config, EncryptionProvider, SequenceNumberCounter};
///
/// /// A toy provider for the example (a keyed XOR with a check byte): NOT a cipher.
/// struct Xor(u8);
///
/// impl EncryptionProvider for Xor {
///     fn encrypt(&self, plaintext: &[u8]) -> strata::Result<Vec<u8>> {
///         let mut out: Vec<u8> = plaintext.iter().map(|b| b ^ self.0).collect();
///         out.push(self.0);
///         Ok(out)
///     }
///     fn max_overhead(&self) -> u32 {
///         1
///     }
///     fn decrypt(&self, ciphertext: &[u8]) -> strata::Result<Vec<u8>> {
///         match ciphertext.split_last() {
///             Some((&key, body)) if key == self.0 => Ok(body.iter().map(|b| b ^ self.0).collect()),
///             _ => Err(strata::Error::Decrypt("wrong key")),
///         }
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let seqno = SequenceNumberCounter::default();
/// let tree = Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
///     .with_encryption(Some(Arc::new(Xor(0x5a))))
///     .open()?;
/// tree.insert("secret", "value", seqno.next());
/// tree.flush_active_memtable(0)?;
/// assert_eq!(tree.get("secret", seqno.get())?, Some("value".into()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait EncryptionProvider:
    Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe
{
    /// Encrypts `plaintext` into an opaque blob (which may carry a nonce and a tag).
    ///
    /// # Errors
    /// [`Error::Encrypt`](crate::Error::Encrypt) if encryption fails.
    fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>>;

    /// The most bytes [`EncryptionProvider::encrypt`] adds to a plaintext (28 for AES-256-GCM:
    /// a 12-byte nonce and a 16-byte tag). Strata checks every output against it.
    fn max_overhead(&self) -> u32;

    /// Decrypts what [`EncryptionProvider::encrypt`] returned.
    ///
    /// # Errors
    /// [`Error::Decrypt`](crate::Error::Decrypt) if the bytes are not a ciphertext of this
    /// provider's key (tampered, or another key).
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>>;

    /// [`EncryptionProvider::encrypt`] of an owned buffer, for providers that can encrypt in
    /// place; the default calls `encrypt`.
    ///
    /// # Errors
    /// As [`EncryptionProvider::encrypt`].
    fn encrypt_vec(&self, plaintext: Vec<u8>) -> Result<Vec<u8>> {
        self.encrypt(&plaintext)
    }

    /// [`EncryptionProvider::decrypt`] of an owned buffer; the default calls `decrypt`.
    ///
    /// # Errors
    /// As [`EncryptionProvider::decrypt`].
    fn decrypt_vec(&self, ciphertext: Vec<u8>) -> Result<Vec<u8>> {
        self.decrypt(&ciphertext)
    }
}

impl std::fmt::Debug for dyn EncryptionProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionProvider")
            .field("max_overhead", &self.max_overhead())
            .finish_non_exhaustive()
    }
}
