//! Print every row of a store's `index.db` as JSON (debugging aid):
//! `cargo run -p tack-store-dir --example dump_index -- <store>/v11`

use tack_store_dir::msgpackr::decode_value;
use tack_store_dir::{StoreDir, StoreIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::args()
        .nth(1)
        .ok_or("usage: dump_index <store>/v11")?;
    let index = StoreIndex::open(&StoreDir::new(root))?;
    let mut keys = index.all_keys()?;
    keys.sort();
    for (key, data) in index.get_many_raw(&keys)? {
        match decode_value(&data) {
            Ok(v) => println!("{key}\n{}", serde_json::to_string_pretty(&v.into_json())?),
            Err(e) => println!("{key}\nundecodable: {e}"),
        }
    }
    Ok(())
}
