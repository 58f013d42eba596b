//! SHA-512 of many files at once: eight messages hashed side by side, one per 64-bit lane
//! of an AVX-512 register.
//!
//! Every file that enters the store is hashed to name its CAS path, and that hashing was
//! the largest user-space cost of a cold install (a sixth of its CPU). One SHA-512 stream
//! cannot go faster than its chain of dependent rounds, but eight independent streams can
//! share each instruction: AVX-512 rotates, adds and combines three inputs (`vpternlogq`)
//! for eight 64-bit words at once. A tarball's files are such a batch.
//!
//! The end of a batch is narrower: once nothing is queued, the busy lanes move to the front
//! and run in a 256-bit register (three or four left) or a 128-bit one (two left). A round
//! costs about the same at every width (measured on an AVX-512 VM, 1 MiB messages: eight
//! in a 512-bit register 2.3–2.5 ms, four in a 256-bit one or two in a 128-bit one about
//! 1.9 ms, and one alone in `sha2` 1.4 ms), so the narrow widths save only a little. The
//! last message of a batch is hashed by the `sha2` crate.
//!
//! A CPU without AVX-512 (F, VL and BW) but with AVX2 hashes four messages side by side in
//! a 256-bit register, with rotates made of shifts. Many machines are such: older and
//! client x86 cores, and VMs whose hypervisor hides AVX-512 (a Zen 4 VM of the benchmark
//! pool showed no AVX-512 flags, and SHA-512 was 40% of a cold install's user time there).
//! On it, four 1 MiB messages took 4.3 ms against 9.8 ms one after the other in `sha2`, and
//! the npm-shaped batches of `benches/hash.rs` 0.62 s against 1.26 s. Two messages take as
//! long in the four-lane register as one after the other in `sha2`, so the end of a batch
//! stays in the register until one message is left. Without AVX2, `sha2` hashes every
//! message.
//!
//! The round constants and initial state below are those of FIPS 180-4 §4.2.3 and §5.3.5
//! (the fractional parts of the cube and square roots of the first primes), generated from
//! that definition; the tests compare every digest with the `sha2` crate's.

use sha2::{Digest, Sha512};

/// Hashes each message; the digests come back in the order of `messages`.
pub fn sha512_many(messages: &[&[u8]]) -> Vec<[u8; 64]> {
    #[cfg(target_arch = "x86_64")]
    if messages.len() >= MIN_MESSAGES {
        if has_avx512() {
            // SAFETY: the CPU has AVX-512F, VL and BW, checked just above.
            return unsafe { x86::sha512_many_avx512(messages) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { x86::sha512_many_avx2(messages) };
        }
    }
    messages.iter().map(|m| one(m)).collect()
}

/// Two messages already share a two-lane register.
const MIN_MESSAGES: usize = 2;

/// Whether the eight-lane code can run: AVX-512F, VL and BW.
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512bw")
}

fn one(message: &[u8]) -> [u8; 64] {
    Sha512::digest(message).into()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::one;
    use core::arch::x86_64::*;
    use sha2::digest::generic_array::GenericArray;

    const LANES: usize = 8;
    const BLOCK: usize = 128;

    #[rustfmt::skip]
    const K: [u64; 80] = [
        0x428a2f98d728ae22, 0x7137449123ef65cd, 0xb5c0fbcfec4d3b2f, 0xe9b5dba58189dbbc,
        0x3956c25bf348b538, 0x59f111f1b605d019, 0x923f82a4af194f9b, 0xab1c5ed5da6d8118,
        0xd807aa98a3030242, 0x12835b0145706fbe, 0x243185be4ee4b28c, 0x550c7dc3d5ffb4e2,
        0x72be5d74f27b896f, 0x80deb1fe3b1696b1, 0x9bdc06a725c71235, 0xc19bf174cf692694,
        0xe49b69c19ef14ad2, 0xefbe4786384f25e3, 0x0fc19dc68b8cd5b5, 0x240ca1cc77ac9c65,
        0x2de92c6f592b0275, 0x4a7484aa6ea6e483, 0x5cb0a9dcbd41fbd4, 0x76f988da831153b5,
        0x983e5152ee66dfab, 0xa831c66d2db43210, 0xb00327c898fb213f, 0xbf597fc7beef0ee4,
        0xc6e00bf33da88fc2, 0xd5a79147930aa725, 0x06ca6351e003826f, 0x142929670a0e6e70,
        0x27b70a8546d22ffc, 0x2e1b21385c26c926, 0x4d2c6dfc5ac42aed, 0x53380d139d95b3df,
        0x650a73548baf63de, 0x766a0abb3c77b2a8, 0x81c2c92e47edaee6, 0x92722c851482353b,
        0xa2bfe8a14cf10364, 0xa81a664bbc423001, 0xc24b8b70d0f89791, 0xc76c51a30654be30,
        0xd192e819d6ef5218, 0xd69906245565a910, 0xf40e35855771202a, 0x106aa07032bbd1b8,
        0x19a4c116b8d2d0c8, 0x1e376c085141ab53, 0x2748774cdf8eeb99, 0x34b0bcb5e19b48a8,
        0x391c0cb3c5c95a63, 0x4ed8aa4ae3418acb, 0x5b9cca4f7763e373, 0x682e6ff3d6b2b8a3,
        0x748f82ee5defb2fc, 0x78a5636f43172f60, 0x84c87814a1f0ab72, 0x8cc702081a6439ec,
        0x90befffa23631e28, 0xa4506cebde82bde9, 0xbef9a3f7b2c67915, 0xc67178f2e372532b,
        0xca273eceea26619c, 0xd186b8c721c0c207, 0xeada7dd6cde0eb1e, 0xf57d4f7fee6ed178,
        0x06f067aa72176fba, 0x0a637dc5a2c898a6, 0x113f9804bef90dae, 0x1b710b35131c471b,
        0x28db77f523047d84, 0x32caab7b40c72493, 0x3c9ebe0a15c9bebc, 0x431d67c49c100d4c,
        0x4cc5d4becb3e42b6, 0x597f299cfc657e2a, 0x5fcb6fab3ad6faec, 0x6c44198c4a475817,
    ];
    #[rustfmt::skip]
    const IV: [u64; 8] = [
        0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b, 0xa54ff53a5f1d36f1,
        0x510e527fade682d1, 0x9b05688c2b3e6c1f, 0x1f83d9abfb41bd6b, 0x5be0cd19137e2179,
    ];
    /// One message in a lane: its full blocks are read in place, the padded end from `tail`.
    struct Lane<'a> {
        index: usize,
        data: &'a [u8],
        full_blocks: usize,
        total_blocks: usize,
        next: usize,
        tail: [u8; 2 * BLOCK],
    }

    impl<'a> Lane<'a> {
        fn new(index: usize, data: &'a [u8]) -> Self {
            let full_blocks = data.len() / BLOCK;
            let rest = &data[full_blocks * BLOCK..];
            let mut tail = [0u8; 2 * BLOCK];
            tail[..rest.len()].copy_from_slice(rest);
            tail[rest.len()] = 0x80;
            let tail_blocks = if rest.len() + 1 + 16 <= BLOCK { 1 } else { 2 };
            let bits = (data.len() as u128) * 8;
            let end = tail_blocks * BLOCK;
            tail[end - 16..end].copy_from_slice(&bits.to_be_bytes());
            Lane {
                index,
                data,
                full_blocks,
                total_blocks: full_blocks + tail_blocks,
                next: 0,
                tail,
            }
        }

        fn block(&self, i: usize) -> &[u8] {
            if i < self.full_blocks {
                &self.data[i * BLOCK..(i + 1) * BLOCK]
            } else {
                let t = i - self.full_blocks;
                &self.tail[t * BLOCK..(t + 1) * BLOCK]
            }
        }

        /// Runs the remaining blocks through the scalar compression from `state`.
        fn finish_scalar(&self, mut state: [u64; 8]) -> [u8; 64] {
            for i in self.next..self.total_blocks {
                let block = GenericArray::from_slice(self.block(i));
                sha2::compress512(&mut state, core::slice::from_ref(block));
            }
            digest_of(&state)
        }
    }

    fn digest_of(state: &[u64; 8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (chunk, word) in out.chunks_exact_mut(8).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX-512F, AVX-512VL and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512vl,avx512bw")]
    pub(super) unsafe fn sha512_many_avx512(messages: &[&[u8]]) -> Vec<[u8; 64]> {
        drive::<8>(messages, |state, blocks, busy| {
            // A round costs about the same number of instructions at every width, and
            // narrow ones issue on more ports: the end of a batch runs narrower.
            // SAFETY: AVX-512F, VL and BW are enabled for this function and its callers' check.
            unsafe {
                match busy {
                    2 => compress2(state, transpose8(blocks).map(|w| _mm512_castsi512_si128(w))),
                    3 | 4 => {
                        compress4(state, transpose8(blocks).map(|w| _mm512_castsi512_si256(w)))
                    }
                    _ => compress8(state, transpose8(blocks)),
                }
            }
        })
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn sha512_many_avx2(messages: &[&[u8]]) -> Vec<[u8; 64]> {
        drive::<4>(messages, |state, blocks, _busy| {
            // SAFETY: AVX2 is enabled for this function and its callers' check.
            unsafe { compress4_avx2(state, blocks) }
        })
    }

    /// Hashes `messages` in `N` lanes. `compress(state, blocks, busy)` runs one block of
    /// each lane through the compression function; only the first `busy` lanes hold a
    /// message (the others read a zero block, and their state is thrown away).
    #[inline(always)]
    fn drive<const N: usize>(
        messages: &[&[u8]],
        mut compress: impl FnMut(&mut [[u64; N]; 8], &[&[u8]; N], usize),
    ) -> Vec<[u8; 64]> {
        let mut digests = vec![[0u8; 64]; messages.len()];
        // Longest first: long messages run side by side from the start and short ones fill
        // the lanes that free up, so the lanes finish close together.
        let mut order: Vec<usize> = (0..messages.len()).collect();
        order.sort_unstable_by_key(|&i| std::cmp::Reverse(messages[i].len()));
        let mut queue = order.into_iter();
        let mut lanes: [Option<Lane<'_>>; N] = std::array::from_fn(|_| None);
        // state[word][lane]
        let mut state = [[0u64; N]; 8];
        for (l, lane) in lanes.iter_mut().enumerate() {
            if let Some(i) = queue.next() {
                *lane = Some(Lane::new(i, messages[i]));
                reset(&mut state, l);
            }
        }
        let zero = [0u8; BLOCK];
        loop {
            // While messages are queued, a lane that frees up is refilled at once, so the
            // batch only narrows at its end. Then the busy lanes move to the front, and the
            // last message is finished alone by the scalar code.
            let busy = if queue.len() > 0 {
                N
            } else {
                match compact(&mut lanes, &mut state) {
                    0 => break,
                    1 => {
                        if let Some(lane) = &lanes[0] {
                            let s = std::array::from_fn(|w| state[w][0]);
                            digests[lane.index] = lane.finish_scalar(s);
                        }
                        break;
                    }
                    busy => busy,
                }
            };
            let blocks: [&[u8]; N] = std::array::from_fn(|l| {
                lanes[l]
                    .as_ref()
                    .map_or(&zero[..], |lane| lane.block(lane.next))
            });
            compress(&mut state, &blocks, busy);
            for (l, slot) in lanes.iter_mut().enumerate().take(busy) {
                let Some(lane) = slot else { continue };
                lane.next += 1;
                if lane.next < lane.total_blocks {
                    continue;
                }
                let s: [u64; 8] = std::array::from_fn(|w| state[w][l]);
                digests[lane.index] = digest_of(&s);
                *slot = queue.next().map(|i| Lane::new(i, messages[i]));
                reset(&mut state, l);
            }
        }
        // Messages never given a lane (none: the queue is drained above) would be zeroes;
        // hash any that slipped through rather than return a wrong digest.
        for i in queue {
            digests[i] = one(messages[i]);
        }
        digests
    }

    /// Moves the busy lanes (and their state) to the front, keeping their order; returns
    /// how many there are.
    fn compact<const N: usize>(
        lanes: &mut [Option<Lane<'_>>; N],
        state: &mut [[u64; N]; 8],
    ) -> usize {
        let mut busy = 0;
        for l in 0..N {
            if lanes[l].is_none() {
                continue;
            }
            if l != busy {
                lanes.swap(l, busy);
                for word in state.iter_mut() {
                    word[busy] = word[l];
                }
            }
            busy += 1;
        }
        busy
    }

    fn reset<const N: usize>(state: &mut [[u64; N]; 8], lane: usize) {
        for (word, iv) in state.iter_mut().zip(IV) {
            word[lane] = iv;
        }
    }

    /// The words of eight lanes' blocks: `w[t]` holds word `t` of lane 0 to 7, in native
    /// order. Each block is read as two registers (words 0–7 and 8–15) and byte-swapped,
    /// and each half of the eight is transposed as an 8×8 matrix of words in three steps
    /// of two-source permutes (pairs of rows, then pairs of pairs, then halves). Moving
    /// the words one by one through memory made a full-width block about a fifth slower.
    /// The narrow widths take the low halves of the same registers (the idle lanes read the
    /// zero block): about a tenth quicker for them than gathering word by word.
    ///
    /// # Safety
    /// The CPU must support AVX-512F and AVX-512BW.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn transpose8(blocks: &[&[u8]; LANES]) -> [__m512i; 16] {
        // Reverses the bytes of each 64-bit word: the message's words are big-endian.
        let swap = _mm512_broadcast_i32x4(_mm_set_epi8(
            8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
        ));
        // Permute indexes, element 0 last: words 0, 1 of each source (8 and up is the
        // second source), then 4, 5 of each; the same with 2, 3 and 6, 7; then the low
        // halves of both sources, and the high halves.
        let pairs_even = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
        let pairs_odd = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
        let low_halves = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0);
        let high_halves = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4);
        let mut w = [_mm512_setzero_si512(); 16];
        for half in 0..2 {
            // rows[l] = words 8·half … 8·half+7 of lane l.
            let rows: [__m512i; LANES] = std::array::from_fn(|l| {
                let row = &blocks[l][64 * half..64 * (half + 1)];
                // SAFETY: `row` is 64 bytes long, a whole register.
                let row = unsafe { _mm512_loadu_si512(row.as_ptr().cast()) };
                _mm512_shuffle_epi8(row, swap)
            });
            // lo[p]: word 0 of lanes 2p and 2p+1, then word 2, 4 and 6; hi[p]: 1, 3, 5, 7.
            let lo: [__m512i; 4] =
                std::array::from_fn(|p| _mm512_unpacklo_epi64(rows[2 * p], rows[2 * p + 1]));
            let hi: [__m512i; 4] =
                std::array::from_fn(|p| _mm512_unpackhi_epi64(rows[2 * p], rows[2 * p + 1]));
            // quads[q][m]: word m of lanes 4q to 4q+3, then word m+4 of the same lanes.
            let quads: [[__m512i; 4]; 2] = std::array::from_fn(|q| {
                [
                    _mm512_permutex2var_epi64(lo[2 * q], pairs_even, lo[2 * q + 1]),
                    _mm512_permutex2var_epi64(hi[2 * q], pairs_even, hi[2 * q + 1]),
                    _mm512_permutex2var_epi64(lo[2 * q], pairs_odd, lo[2 * q + 1]),
                    _mm512_permutex2var_epi64(hi[2 * q], pairs_odd, hi[2 * q + 1]),
                ]
            });
            for m in 0..4 {
                let [first, second] = [quads[0][m], quads[1][m]];
                w[8 * half + m] = _mm512_permutex2var_epi64(first, low_halves, second);
                w[8 * half + m + 4] = _mm512_permutex2var_epi64(first, high_halves, second);
            }
        }
        w
    }

    /// Calls `$round` with each literal from 0 to 15: sixteen rounds written out, so that
    /// every index into the message schedule is a constant and the schedule stays in
    /// registers. (As a loop over `round & 15`, the schedule lived on the stack and each
    /// round waited for a store to be read back: a compression took about 1.3 times as long.)
    macro_rules! sixteen {
        ($round:ident) => {
            $round(0);
            $round(1);
            $round(2);
            $round(3);
            $round(4);
            $round(5);
            $round(6);
            $round(7);
            $round(8);
            $round(9);
            $round(10);
            $round(11);
            $round(12);
            $round(13);
            $round(14);
            $round(15);
        };
    }

    /// The 80 rounds of FIPS 180-4 §6.4.2 over one register width, from lane 0 of
    /// `state[word]` and `words[t]` up: the same code for 8, 4 and 2 lanes, with that
    /// width's intrinsics.
    macro_rules! compress_lanes {
        ($name:ident, $features:literal, $vec:ty, $load:ident, $store:ident, $add:ident,
         $ror:ident, $srli:ident, $ternary:ident, $set1:ident) => {
            /// One 128-byte block for each lane of the width: `w[t]` holds word `t` of each
            /// lane's block, in native order.
            #[target_feature(enable = $features)]
            unsafe fn $name(state: &mut [[u64; LANES]; 8], mut w: [$vec; 16]) {
                let load = |p: &[u64; LANES]| unsafe { $load(p.as_ptr().cast()) };
                let add = |a: $vec, b: $vec| $add(a, b);
                let xor3 = |a: $vec, b: $vec, c: $vec| $ternary::<0x96>(a, b, c);
                let mut s: [$vec; 8] = std::array::from_fn(|i| load(&state[i]));
                let initial = s;
                // Rounds `base + t` for t in 0..16; from round 16 on, word `t` of the
                // schedule is replaced by the next one before it is used.
                let mut base = 0;
                while base < 80 {
                    let mut round = |t: usize| {
                        if base >= 16 {
                            let w2 = w[(t + 14) & 15];
                            let w15 = w[(t + 1) & 15];
                            let sigma1 = xor3($ror::<19>(w2), $ror::<61>(w2), $srli::<6>(w2));
                            let sigma0 = xor3($ror::<1>(w15), $ror::<8>(w15), $srli::<7>(w15));
                            w[t] = add(add(sigma1, w[(t + 9) & 15]), add(sigma0, w[t]));
                        }
                        let [a, b, c, d, e, f, g, h] = s;
                        let big_sigma1 = xor3($ror::<14>(e), $ror::<18>(e), $ror::<41>(e));
                        let ch = $ternary::<0xCA>(e, f, g);
                        let k = $set1(K[base + t] as i64);
                        // `h + k + w` does not wait for `e`; the sum that does is short.
                        let t1 = add(add(big_sigma1, ch), add(add(h, k), w[t]));
                        let big_sigma0 = xor3($ror::<28>(a), $ror::<34>(a), $ror::<39>(a));
                        let maj = $ternary::<0xE8>(a, b, c);
                        let t2 = add(big_sigma0, maj);
                        s = [add(t1, t2), a, b, c, add(d, t1), e, f, g];
                    };
                    sixteen!(round);
                    base += 16;
                }
                for (i, word) in state.iter_mut().enumerate() {
                    // SAFETY: each row holds eight words, at least the width's.
                    unsafe { $store(word.as_mut_ptr().cast(), add(s[i], initial[i])) };
                }
            }
        };
    }

    compress_lanes!(
        compress8,
        "avx512f",
        __m512i,
        _mm512_loadu_si512,
        _mm512_storeu_si512,
        _mm512_add_epi64,
        _mm512_ror_epi64,
        _mm512_srli_epi64,
        _mm512_ternarylogic_epi64,
        _mm512_set1_epi64
    );
    compress_lanes!(
        compress4,
        "avx512f,avx512vl",
        __m256i,
        _mm256_loadu_si256,
        _mm256_storeu_si256,
        _mm256_add_epi64,
        _mm256_ror_epi64,
        _mm256_srli_epi64,
        _mm256_ternarylogic_epi64,
        _mm256_set1_epi64x
    );
    compress_lanes!(
        compress2,
        "avx512f,avx512vl",
        __m128i,
        _mm_loadu_si128,
        _mm_storeu_si128,
        _mm_add_epi64,
        _mm_ror_epi64,
        _mm_srli_epi64,
        _mm_ternarylogic_epi64,
        _mm_set1_epi64x
    );

    /// One 128-byte block for each of four lanes, in a 256-bit AVX2 register: for CPUs
    /// without AVX-512. AVX2 has neither a 64-bit rotate nor a three-input logic
    /// instruction, so a rotate is two shifts and an OR, and `Maj` reuses the `a ^ b` of
    /// the round before (it is that round's `b ^ c`). The sixteen schedule words and the
    /// eight state words do not fit in sixteen registers; the schedule's constant indexes
    /// let it live in fixed stack slots, which loads keep up with.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn compress4_avx2(state: &mut [[u64; 4]; 8], blocks: &[&[u8]; 4]) {
        /// `x` rotated right by `$n` bits in each 64-bit lane.
        macro_rules! ror {
            ($x:expr, $n:literal) => {
                _mm256_or_si256(
                    _mm256_srli_epi64::<$n>($x),
                    _mm256_slli_epi64::<{ 64 - $n }>($x),
                )
            };
        }
        let add = |a: __m256i, b: __m256i| _mm256_add_epi64(a, b);
        let xor = |a: __m256i, b: __m256i| _mm256_xor_si256(a, b);
        let xor3 = |a: __m256i, b: __m256i, c: __m256i| xor(xor(a, b), c);
        // Reverses the bytes of each 64-bit word: the message's words are big-endian.
        let swap = _mm256_broadcastsi128_si256(_mm_set_epi8(
            8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7,
        ));
        // w[t] = word t of lanes 0 to 3: each quarter of the four blocks is a 4×4 matrix
        // of words, transposed by pairs within 128-bit halves, then by halves.
        let mut w = [_mm256_setzero_si256(); 16];
        for quarter in 0..4 {
            let rows: [__m256i; 4] = std::array::from_fn(|l| {
                let row = &blocks[l][32 * quarter..32 * (quarter + 1)];
                // SAFETY: `row` is 32 bytes long, a whole register.
                let row = unsafe { _mm256_loadu_si256(row.as_ptr().cast()) };
                _mm256_shuffle_epi8(row, swap)
            });
            // even01: word 0 of lanes 0, 1, then word 2 of them; odd01: words 1 and 3.
            let even01 = _mm256_unpacklo_epi64(rows[0], rows[1]);
            let odd01 = _mm256_unpackhi_epi64(rows[0], rows[1]);
            let even23 = _mm256_unpacklo_epi64(rows[2], rows[3]);
            let odd23 = _mm256_unpackhi_epi64(rows[2], rows[3]);
            w[4 * quarter] = _mm256_permute2x128_si256::<0x20>(even01, even23);
            w[4 * quarter + 1] = _mm256_permute2x128_si256::<0x20>(odd01, odd23);
            w[4 * quarter + 2] = _mm256_permute2x128_si256::<0x31>(even01, even23);
            w[4 * quarter + 3] = _mm256_permute2x128_si256::<0x31>(odd01, odd23);
        }
        // SAFETY: each row of `state` is four words, one register.
        let mut s: [__m256i; 8] =
            std::array::from_fn(|i| unsafe { _mm256_loadu_si256(state[i].as_ptr().cast()) });
        let initial = s;
        let mut bc = xor(s[1], s[2]);
        let mut base = 0;
        while base < 80 {
            let mut round = |t: usize| {
                if base >= 16 {
                    let w2 = w[(t + 14) & 15];
                    let w15 = w[(t + 1) & 15];
                    let sigma1 = xor3(ror!(w2, 19), ror!(w2, 61), _mm256_srli_epi64::<6>(w2));
                    let sigma0 = xor3(ror!(w15, 1), ror!(w15, 8), _mm256_srli_epi64::<7>(w15));
                    w[t] = add(add(sigma1, w[(t + 9) & 15]), add(sigma0, w[t]));
                }
                let [a, b, c, d, e, f, g, h] = s;
                let big_sigma1 = xor3(ror!(e, 14), ror!(e, 18), ror!(e, 41));
                // Ch(e, f, g) = g ^ (e & (f ^ g))
                let ch = xor(g, _mm256_and_si256(e, xor(f, g)));
                let k = _mm256_set1_epi64x(K[base + t] as i64);
                let t1 = add(add(big_sigma1, ch), add(add(h, k), w[t]));
                let big_sigma0 = xor3(ror!(a, 28), ror!(a, 34), ror!(a, 39));
                // Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c))
                let ab = xor(a, b);
                let maj = xor(b, _mm256_and_si256(ab, bc));
                bc = ab;
                let t2 = add(big_sigma0, maj);
                s = [add(t1, t2), a, b, c, add(d, t1), e, f, g];
            };
            sixteen!(round);
            base += 16;
        }
        for (i, word) in state.iter_mut().enumerate() {
            // SAFETY: each row of `state` is four words, one register.
            unsafe { _mm256_storeu_si256(word.as_mut_ptr().cast(), add(s[i], initial[i])) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator: the tests need varied bytes, not good randomness.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self, len: usize) -> Vec<u8> {
            (0..len).map(|_| self.next() as u8).collect()
        }
    }

    fn check(messages: &[Vec<u8>]) {
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let got = sha512_many(&refs);
        assert_eq!(got.len(), messages.len());
        for (message, digest) in messages.iter().zip(&got) {
            assert_eq!(
                *digest,
                one(message),
                "a message of {} bytes",
                message.len()
            );
        }
        // Each lane width itself, whatever the batch size the dispatcher would accept and
        // whichever it would choose on this CPU.
        #[cfg(target_arch = "x86_64")]
        {
            if has_avx512() {
                // SAFETY: AVX-512F, VL and BW are present, checked just above.
                let direct = unsafe { x86::sha512_many_avx512(&refs) };
                assert_eq!(direct, got, "eight lanes");
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present, checked just above.
                let direct = unsafe { x86::sha512_many_avx2(&refs) };
                assert_eq!(direct, got, "four lanes");
            }
        }
    }

    #[test]
    fn every_length_around_the_padding_boundaries() {
        // 0..=300 bytes covers messages whose padding needs one block and two, and full
        // blocks before the tail, in batches whose lanes finish at different rounds.
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let messages: Vec<Vec<u8>> = (0..=300).map(|len| rng.bytes(len)).collect();
        check(&messages);
        for window in messages.chunks(9) {
            check(window);
        }
    }

    #[test]
    fn batches_of_every_size_with_mixed_lengths() {
        let mut rng = XorShift(42);
        for count in 0..40 {
            let messages: Vec<Vec<u8>> = (0..count)
                .map(|_| {
                    let len = (rng.next() % 5000) as usize;
                    rng.bytes(len)
                })
                .collect();
            check(&messages);
        }
    }

    #[test]
    fn a_long_message_among_short_ones_is_finished_alone() {
        // Once the short ones are done, the long ones are left with idle lanes and are
        // finished by the scalar code from the lane's state.
        let mut rng = XorShift(7);
        let mut messages: Vec<Vec<u8>> = (0..30).map(|i| rng.bytes(i * 11)).collect();
        messages.insert(3, rng.bytes(300_000));
        messages.push(rng.bytes(200_001));
        check(&messages);
    }

    #[test]
    fn lanes_that_empty_in_the_middle_are_closed_up() {
        // The eight longest messages take the lanes; lane 7 (the shortest of them) ends
        // first and takes the 1,900-byte one, lane 6 ends next and takes the 100-byte one,
        // which ends at once: lane 6 is free while lane 7 is still busy. Its message must
        // move to lane 6 with its state, and the narrower widths follow (four lanes, two,
        // then the last message alone).
        let mut rng = XorShift(11);
        let lengths = [
            20_000, 18_000, 16_000, 14_000, 12_000, 10_000, 3_000, 2_000, 1_900, 100,
        ];
        let messages: Vec<Vec<u8>> = lengths.iter().map(|&n| rng.bytes(n)).collect();
        check(&messages);
        // And every smaller batch of them, which empties lanes in other orders.
        for count in 2..lengths.len() {
            check(&messages[..count]);
        }
    }

    #[test]
    fn identical_and_empty_messages() {
        let messages = vec![Vec::new(); 12];
        check(&messages);
        let known = one(b"");
        // The well-known digest of the empty string begins cf83e135.
        assert_eq!(&known[..4], &[0xcf, 0x83, 0xe1, 0x35]);
        let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        assert!(sha512_many(&refs).iter().all(|d| *d == known));
    }
}
