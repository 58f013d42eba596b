//! Fuzz findings of the `msgpackr` target (`fuzz/fuzz_targets/msgpackr.rs`) as regression tests,
//! and the stable-toolchain smoke run of that target: its committed corpus plus seeded random
//! mutants, so CI exercises the fuzz target without nightly.

#[path = "../../../fuzz/targets/smoke.rs"]
mod smoke;
#[path = "../../../fuzz/targets/msgpackr.rs"]
mod target;

#[test]
fn smoke_corpus_and_seeded_mutants() {
    smoke::smoke("msgpackr", 4, target::run);
}

/// Found by `just fuzz` (libFuzzer, msgpackr target): a uint64 that fits a JS number decodes
/// to `Int`, is re-encoded as a float64 like msgpackr does, and reads back as `F64`. The
/// target compared the two values literally and failed; the encoding itself is stable.
#[test]
fn uint64_beyond_32_bits_reencodes_stably() {
    let input = [0xcf, 0x00, 0x00, 0xfb, 0xff, 0xff, 0xff, 0x00, 0x30];
    target::run(&input);
    let value = tack_store_dir::msgpackr::decode_value(&input).unwrap();
    let encoded = tack_store_dir::msgpackr::encode_value(&value);
    assert_eq!(
        encoded[0], 0xcb,
        "written as a float64, as msgpackr writes a JS number"
    );
}

/// Found by `just fuzz` (libFuzzer, msgpackr target, a timeout): a row whose manifest holds
/// maps nested as each other's keys. Turning each key into JSON text doubled the escaping
/// at every level, so 318 bytes never finished decoding; such a key is now named as JS
/// names it (`[object Map]`), at once.
#[test]
fn maps_nested_as_keys_decode_at_once() {
    let input = include_bytes!("../../../fuzz/seeds/msgpackr/regression-nested-map-keys.msgpack");
    target::run(input);
    // The row itself is refused (its `files` is no map of files), after its manifest.
    assert!(tack_store_dir::msgpackr::decode(input).is_err());
    let json = tack_store_dir::msgpackr::decode_value(input)
        .expect("the value decodes")
        .into_json();
    assert!(json.to_string().contains("[object Map]"), "{json}");
}
