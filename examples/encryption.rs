//! Encryption at rest: every table block and blob record written through an
//! `EncryptionProvider`, read back through it, and refused without it.
//!
//! Strata ships no cipher; this example's provider is a toy (a keyed XOR with a tag byte) that
//! only shows the plumbing. Use an authenticated cipher (AES-256-GCM, ChaCha20-Poly1305) with a
//! fresh nonce per call in a real provider.
//!
//! `cargo run --example encryption`

use std::sync::Arc;

use strata::{Config, EncryptionProvider, Error, SequenceNumberCounter};

struct ToyXor {
    key: u8,
}

impl EncryptionProvider for ToyXor {
    fn encrypt(&self, plaintext: &[u8]) -> strata::Result<Vec<u8>> {
        let mut out: Vec<u8> = plaintext.iter().map(|b| b ^ self.key).collect();
        out.push(self.key);
        Ok(out)
    }

    fn max_overhead(&self) -> u32 {
        1
    }

    fn decrypt(&self, ciphertext: &[u8]) -> strata::Result<Vec<u8>> {
        match ciphertext.split_last() {
            Some((&tag, body)) if tag == self.key => {
                Ok(body.iter().map(|b| b ^ self.key).collect())
            }
            _ => Err(Error::Decrypt("not this key")),
        }
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "the example reads the table files behind the engine's back to show they hold no plaintext"
)]
fn main() -> strata::Result<()> {
    let dir = tempfile::tempdir()?;
    let open = |provider: Option<Arc<dyn EncryptionProvider>>| {
        let seqno = SequenceNumberCounter::default();
        Config::new(&dir, seqno.clone(), SequenceNumberCounter::default())
            .with_encryption(provider)
            .open()
            .map(|tree| (tree, seqno))
    };
    {
        let (tree, seqno) = open(Some(Arc::new(ToyXor { key: 0x42 })))?;
        tree.insert("card:1", "4111-1111-1111-1111", seqno.next());
        tree.flush_active_memtable(0)?;
        println!("{} table(s) written, encrypted", tree.table_count());
    }
    let on_disk = std::fs::read_dir(dir.path().join("tables"))?
        .map(|entry| std::fs::read(entry?.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    let leaked = on_disk
        .iter()
        .any(|bytes| bytes.windows(4).any(|w| w == b"4111"));
    println!("the value in plaintext on disk: {leaked}");

    match open(None) {
        Err(err) => println!("opened without the provider: {err}"),
        Ok(_) => println!("opened without the provider: no error (unexpected)"),
    }
    let (tree, _) = open(Some(Arc::new(ToyXor { key: 0x42 })))?;
    let value = tree.get("card:1", strata::SeqNo::MAX)?;
    println!(
        "read back with the provider: {:?}",
        value.map(|v| String::from_utf8_lossy(&v).into_owned())
    );
    Ok(())
}
