//! Little-endian binary encoding for the replay-buffer file, with bounds-checked reads: a
//! truncated or garbage file is an error, never a panic or a huge allocation.

/// Appends little-endian values to a byte vector.
#[derive(Debug, Default)]
pub(crate) struct ByteWriter(Vec<u8>);

impl ByteWriter {
    pub(crate) fn into_inner(self) -> Vec<u8> {
        self.0
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    pub(crate) fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    pub(crate) fn f64s(&mut self, v: &[f64]) {
        self.u64(v.len() as u64);
        self.0.reserve(v.len() * 8);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    pub(crate) fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }

    pub(crate) fn bools(&mut self, v: &[bool]) {
        self.u64(v.len() as u64);
        self.0.extend(v.iter().map(|&b| u8::from(b)));
    }
}

/// Reads little-endian values from a byte slice; every read checks the remaining length.
#[derive(Debug)]
pub(crate) struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!("truncated: needs {n} more bytes at offset {}, {} left", self.pos, self.remaining()));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// Reads a length-prefixed array whose length must equal `expected`, returning its bytes.
    fn sized(&mut self, expected: usize, width: usize) -> Result<&'a [u8], String> {
        let n = self.u64()?;
        if n != expected as u64 {
            return Err(format!("array of {n} elements, expected {expected}"));
        }
        self.take(expected * width)
    }

    pub(crate) fn f32s_into(&mut self, out: &mut [f32]) -> Result<(), String> {
        let raw = self.sized(out.len(), 4)?;
        for (dst, src) in out.iter_mut().zip(raw.chunks_exact(4)) {
            *dst = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
        }
        Ok(())
    }

    pub(crate) fn f64s_into(&mut self, out: &mut [f64]) -> Result<(), String> {
        let raw = self.sized(out.len(), 8)?;
        for (dst, src) in out.iter_mut().zip(raw.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(src);
            *dst = f64::from_le_bytes(b);
        }
        Ok(())
    }

    pub(crate) fn u32s_into(&mut self, out: &mut [u32]) -> Result<(), String> {
        let raw = self.sized(out.len(), 4)?;
        for (dst, src) in out.iter_mut().zip(raw.chunks_exact(4)) {
            *dst = u32::from_le_bytes([src[0], src[1], src[2], src[3]]);
        }
        Ok(())
    }

    pub(crate) fn bools_into(&mut self, out: &mut [bool]) -> Result<(), String> {
        let raw = self.sized(out.len(), 1)?;
        for (dst, &src) in out.iter_mut().zip(raw) {
            *dst = match src {
                0 => false,
                1 => true,
                b => return Err(format!("invalid boolean byte {b}")),
            };
        }
        Ok(())
    }
}

/// FNV-1a, 64-bit: the checksum recorded for every checkpoint file.
pub(crate) fn fnv1a64(data: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_truncation_is_an_error() {
        let mut w = ByteWriter::default();
        w.u64(7);
        w.f32s(&[1.5, -2.0]);
        w.bools(&[true, false]);
        let bytes = w.into_inner();
        let mut r = ByteReader::new(&bytes);
        assert_eq!(r.u64().unwrap(), 7);
        let mut f = [0.0f32; 2];
        r.f32s_into(&mut f).unwrap();
        assert_eq!(f, [1.5, -2.0]);
        let mut b = [false; 2];
        r.bools_into(&mut b).unwrap();
        assert_eq!(b, [true, false]);
        assert!(r.u32().is_err());
        let mut short = ByteReader::new(&bytes[..10]);
        short.u64().unwrap();
        assert!(short.f32s_into(&mut f).is_err());
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(fnv1a64(b"a"), fnv1a64(b"b"));
    }
}
