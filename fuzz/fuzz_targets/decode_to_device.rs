//! Decodes arbitrary bytes as a frame from the coordinator (`decode::<ToDevice>`). The codec
//! promises never to panic and never to allocate past `MAX_FRAME_BYTES`; libFuzzer's
//! `-rss_limit_mb` and `-malloc_limit_mb` catch a frame that makes it allocate far more
//! than it holds. A frame that decodes must encode, and its encoding must decode and encode
//! to the same bytes (bytes, not values: a decoded NaN is not equal to itself).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ostrich_protocol::{ToDevice, decode, encode};

fuzz_target!(|frame: &[u8]| {
    if let Ok(message) = decode::<ToDevice>(frame) {
        let bytes = encode(&message).expect("a decoded message encodes");
        let again: ToDevice = decode(&bytes).expect("an encoded message decodes");
        assert_eq!(encode(&again).expect("encodes again"), bytes, "encoding is stable");
    }
});
