//! Integer fixed-point helpers with exactly the semantics of gemmlowp / TFLite's
//! `kernels/internal/common.{h,cc}` in its default (double-rounding, i.e.
//! `TFLITE_SINGLE_ROUNDING` unset) configuration, which TFLite Micro's reference int8 kernels
//! use. Where the C++ code relies on wrapping two's-complement behaviour the Rust code uses
//! explicit wrapping operations, so no input can panic (even in debug builds).

/// gemmlowp `SaturatingRoundingDoublingHighMul`: `round(a * b / 2^31)` with rounding half
/// away from zero, saturating the single overflow case `i32::MIN * i32::MIN`.
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = (a as i64) * (b as i64);
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // C++ integer division truncates toward zero, as does Rust's.
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from zero.
/// `exponent` is clamped to `0..=31` (the C++ asserts that range).
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    let exponent = exponent.clamp(0, 31) as u32;
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + (x < 0) as i32;
    (x >> exponent) + (remainder > threshold) as i32
}

/// TFLite `MultiplyByQuantizedMultiplier(int32 x, int32 quantized_multiplier, int shift)`
/// (double rounding): a left shift for positive `shift`, then the doubling high multiply, then
/// a rounding right shift for negative `shift`.
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, quantized_multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    let x = x.wrapping_mul(1i32.wrapping_shl(left_shift.clamp(0, 31) as u32));
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, quantized_multiplier),
        right_shift,
    )
}

/// TFLite `MultiplyByQuantizedMultiplierSmallerThanOneExp` (shift <= 0).
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    quantized_multiplier: i32,
    left_shift: i32,
) -> i32 {
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x, quantized_multiplier),
        -left_shift,
    )
}

/// `x * 2^exponent` saturated to i32 (gemmlowp `SaturatingRoundingMultiplyByPOT` for a
/// positive exponent).
#[inline(always)]
pub fn saturating_shl(x: i32, exponent: u32) -> i32 {
    let exponent = exponent.min(31);
    let wide = (x as i64) << exponent;
    wide.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Splits a positive real multiplier into a Q31 significand and a power-of-two exponent,
/// exactly as TFLite's `QuantizeMultiplier` (which uses `std::frexp` and `std::round`):
/// `real ~= significand * 2^(shift - 31)`. Zero (or a multiplier below 2^-31) maps to (0, 0).
/// Non-finite or negative inputs return `None`.
pub fn quantize_multiplier(real: f64) -> Option<(i32, i32)> {
    if !real.is_finite() || real < 0.0 {
        return None;
    }
    if real == 0.0 {
        return Some((0, 0));
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = round_half_away(q * (1i64 << 31) as f64) as i64;
    if q_fixed > (1i64 << 31) {
        return None;
    }
    if q_fixed == (1i64 << 31) {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    Some((q_fixed as i32, shift))
}

/// `std::frexp` for finite, non-zero doubles: returns (m, e) with 0.5 <= |m| < 1 and
/// x = m * 2^e. Handles subnormals.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up by 2^64 first.
        let (m, e) = frexp(x * f64::from_bits(0x43f0_0000_0000_0000)); // 2^64
        return (m, e - 64);
    }
    let e = exp - 1022;
    let m_bits = (bits & !(0x7ffu64 << 52)) | (1022u64 << 52);
    (f64::from_bits(m_bits), e)
}

/// `std::round` for doubles without libm: rounds half away from zero.
pub fn round_half_away(x: f64) -> f64 {
    if !x.is_finite() {
        return x;
    }
    // Values this large are already integers.
    if x.abs() >= 4_503_599_627_370_496.0 {
        return x;
    }
    let t = x as i64 as f64; // truncation toward zero
    let diff = x - t;
    if diff >= 0.5 {
        t + 1.0
    } else if diff <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// `roundf` for floats without libm: rounds half away from zero.
pub fn round_half_away_f32(x: f32) -> f32 {
    if !x.is_finite() || x.abs() >= 8_388_608.0 {
        return x;
    }
    let t = x as i32 as f32;
    let diff = x - t;
    if diff >= 0.5 {
        t + 1.0
    } else if diff <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srdhm_hand_values() {
        // 2^30 * 2^30 / 2^31 = 2^29
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        // 3 * 2^30 / 2^31 = 1.5 -> 2. gemmlowp's negative nudge is 1 - 2^30 followed by a
        // truncating division, so a negative tie rounds toward zero: -1.5 -> -1.
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
        // 0.5 -> 1 ; -0.5 -> 0
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
        assert_eq!(saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
        // -1.50000001 -> -2
        assert_eq!(saturating_rounding_doubling_high_mul(-3, (1 << 30) + 1), -2);
        // 0.25 -> 0
        assert_eq!(saturating_rounding_doubling_high_mul(1, 1 << 29), 0);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MAX, i32::MAX), i32::MAX - 1);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MAX), -i32::MAX);
    }

    #[test]
    fn rdbp_hand_values() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 -> 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 -> -3
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 -> 2
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(6, 2), 2); // 1.5 -> 2
        assert_eq!(rounding_divide_by_pot(-6, 2), -2); // -1.5 -> -2
        assert_eq!(rounding_divide_by_pot(5, 2), 1); // 1.25 -> 1
        assert_eq!(rounding_divide_by_pot(-5, 2), -1);
        assert_eq!(rounding_divide_by_pot(12345, 0), 12345);
        assert_eq!(rounding_divide_by_pot(i32::MIN, 31), -1);
        assert_eq!(rounding_divide_by_pot(i32::MAX, 31), 1);
    }

    #[test]
    fn mbqm_hand_values() {
        // multiplier 0.5 (2^30), shift 0: 100 * 0.5 = 50
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 0), 50);
        // shift -1: 100 * 0.25 = 25
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, -1), 25);
        // shift +2: 100 * 2 = 200
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 2), 200);
        // 3 * 0.5 = 1.5 -> 2, -3 * 0.5 = -1.5 -> -1 (SRDHM's negative tie)
        assert_eq!(multiply_by_quantized_multiplier(3, 1 << 30, 0), 2);
        assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 0), -1);
        // With a right shift the tie is resolved by RoundingDivideByPOT, away from zero:
        // -12 * 0.5 = -6 exactly, / 4 = -1.5 -> -2.
        assert_eq!(multiply_by_quantized_multiplier(-12, 1 << 30, -2), -2);
        // Double rounding: 5 * 0.75 * 2^-2 = 0.9375. SRDHM(5, 0.75) = 3.75 -> 4; 4/4 = 1.
        assert_eq!(multiply_by_quantized_multiplier(5, 3 << 29, -2), 1);
        // 1000 * 0.7 (1503238554 ~= 0.7 * 2^31) * 2^-3 = 87.5 -> SRDHM gives 700, 700/8 = 87.5 -> 88
        assert_eq!(multiply_by_quantized_multiplier(1000, 1503238554, -3), 88);
        assert_eq!(multiply_by_quantized_multiplier(-1000, 1503238554, -3), -88);
    }

    #[test]
    fn quantize_multiplier_matches_tflite() {
        assert_eq!(quantize_multiplier(0.0), Some((0, 0)));
        assert_eq!(quantize_multiplier(0.5), Some((1 << 30, 0)));
        assert_eq!(quantize_multiplier(1.0), Some((1 << 30, 1)));
        assert_eq!(quantize_multiplier(0.25), Some((1 << 30, -1)));
        assert_eq!(quantize_multiplier(0.75), Some((3 << 29, 0)));
        // Rounds up to 2^31 -> halved, shift incremented.
        assert_eq!(quantize_multiplier(0.999_999_999_9), Some((1 << 30, 1)));
        // Tiny multipliers flush to zero.
        assert_eq!(quantize_multiplier(1e-12), Some((0, 0)));
        assert_eq!(quantize_multiplier(-1.0), None);
        assert_eq!(quantize_multiplier(f64::NAN), None);
        // 0.1 = 0.8 * 2^-3; 0.8 * 2^31 = 1717986918.4 -> 1717986918
        assert_eq!(quantize_multiplier(0.1), Some((1717986918, -3)));
    }

    #[test]
    fn frexp_and_round() {
        assert_eq!(frexp(8.0), (0.5, 4));
        assert_eq!(frexp(0.1).1, -3);
        assert_eq!(frexp(-3.0), (-0.75, 2));
        let tiny = f64::from_bits(1); // smallest subnormal = 2^-1074
        assert_eq!(frexp(tiny), (0.5, -1073));
        assert_eq!(round_half_away(2.5), 3.0);
        assert_eq!(round_half_away(-2.5), -3.0);
        assert_eq!(round_half_away(2.4999), 2.0);
        assert_eq!(round_half_away_f32(-0.5), -1.0);
        assert_eq!(round_half_away_f32(1.49), 1.0);
    }
}

/// gemmlowp `RoundingHalfSum` for int32: `(a + b) / 2` rounded away from zero.
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// gemmlowp `SaturatingRoundingMultiplyByPOT<exponent>` for any sign of `exponent`.
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        saturating_shl(x, exponent as u32)
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// gemmlowp `exp_on_interval_between_negative_one_quarter_and_0_excl` (Q0.31 in and out).
#[inline]
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    const CONSTANT_TERM: i32 = 1895147668; // exp(-1/8)
    const CONSTANT_1_OVER_3: i32 = 715827883;
    let x = a.wrapping_add(1 << 28); // a + 1/8
    let x2 = saturating_rounding_doubling_high_mul(x, x);
    let x3 = saturating_rounding_doubling_high_mul(x2, x);
    let x4 = saturating_rounding_doubling_high_mul(x2, x2);
    let x4_over_4 = rounding_divide_by_pot(x4, 2);
    let poly = rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x4_over_4.wrapping_add(x3), CONSTANT_1_OVER_3)
            .wrapping_add(x2),
        1,
    );
    CONSTANT_TERM.wrapping_add(saturating_rounding_doubling_high_mul(CONSTANT_TERM, x.wrapping_add(poly)))
}

/// gemmlowp `exp_on_negative_values` for an input with `integer_bits` integer bits (the int8
/// softmax uses 5); returns exp(a) in Q0.31.
pub fn exp_on_negative_values(a: i32, integer_bits: u32) -> i32 {
    let integer_bits = integer_bits.min(30) as i32;
    let fractional_bits = 31 - integer_bits;
    let one_quarter: i32 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    // Rescale<0> from `integer_bits`.
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits),
    );
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);
    const BARREL: [(i32, i32); 7] = [
        (-2, 1672461947), // exp(-1/4)
        (-1, 1302514674), // exp(-1/2)
        (0, 790015084),   // exp(-1)
        (1, 290630308),   // exp(-2)
        (2, 39332535),    // exp(-4)
        (3, 720401),      // exp(-8)
        (4, 242),         // exp(-16)
    ];
    for (exponent, multiplier) in BARREL {
        if integer_bits > exponent {
            let shift = fractional_bits + exponent;
            if (0..32).contains(&shift) && remainder & (1i32.wrapping_shl(shift as u32)) != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }
    if integer_bits > 5 {
        let clamp = -(1i32 << (36 - integer_bits).clamp(0, 30)); // -32.0
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX; // One() in Q0.31
    }
    result
}

/// gemmlowp `one_over_one_plus_x_for_x_in_0_1` (Q0.31 in and out): Newton-Raphson division.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    const C48_17: i32 = 1515870810; // 48/17 in Q2.29
    const CNEG32_17: i32 = -1010580540; // -32/17 in Q2.29
    const ONE_Q2: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C48_17.wrapping_add(saturating_rounding_doubling_high_mul(half_denominator, CNEG32_17));
    for _ in 0..3 {
        let half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);
        let one_minus = ONE_Q2.wrapping_sub(half_denominator_times_x);
        // x * one_minus is Q4.27; Rescale<2> multiplies by 4 with saturation.
        x = x.wrapping_add(saturating_rounding_multiply_by_pot(
            saturating_rounding_doubling_high_mul(x, one_minus),
            2,
        ));
    }
    // ExactMulByPot<-1> (Q2 -> Q1, same raw), then Rescale<0>: times 2 with saturation.
    saturating_rounding_multiply_by_pot(x, 1)
}

/// TFLite `GetReciprocal`: for `x` with `x_integer_digits` integer bits returns
/// (1/x scaled into Q0.31, num_bits_over_unit).
pub fn get_reciprocal(x: i32, x_integer_digits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros() as i32;
    let num_bits_over_unit = x_integer_digits - headroom_plus_one;
    let shifted = (x as u32).checked_shl(headroom_plus_one as u32).unwrap_or(0);
    let shifted_sum_minus_one = shifted.wrapping_sub(1u32 << 31) as i32;
    (one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit)
}

#[cfg(test)]
mod softmax_math_tests {
    use super::*;

    fn q(x: f64, frac_bits: i32) -> i32 {
        (x * (1i64 << frac_bits) as f64).round() as i32
    }

    #[test]
    fn exp_matches_float_closely() {
        for &v in &[-0.01, -0.1, -0.25, -0.5, -1.0, -2.0, -3.3, -7.9, -15.0, -31.0] {
            let got = exp_on_negative_values(q(v, 26), 5) as f64 / 2f64.powi(31);
            assert!((got - f64::exp(v)).abs() < 1e-6, "exp({v}) = {got}");
        }
        assert_eq!(exp_on_negative_values(0, 5), i32::MAX);
    }

    #[test]
    fn reciprocal_matches_float_closely() {
        for &v in &[1.0f64, 1.25, 2.0, 3.7, 100.0, 4000.0] {
            let (r, bits) = get_reciprocal(q(v, 19), 12);
            let got = r as f64 / 2f64.powi(31) / 2f64.powi(bits);
            assert!((got - 1.0 / v).abs() / (1.0 / v) < 1e-6, "1/{v} = {got}");
        }
    }

    #[test]
    fn half_sum() {
        assert_eq!(rounding_half_sum(1, 2), 2);
        assert_eq!(rounding_half_sum(-1, -2), -2);
        assert_eq!(rounding_half_sum(i32::MAX, i32::MAX), i32::MAX);
    }
}

/// gemmlowp `logistic` on a fixed-point value with `integer_bits` integer bits; returns Q0.31.
/// Computed on |a| as 1 / (1 + exp(-|a|)), mirrored for negative inputs; exactly 0.5 at zero.
pub fn logistic(a: i32, integer_bits: u32) -> i32 {
    if a == 0 {
        return 1 << 30;
    }
    let abs = if a > 0 { a } else { a.wrapping_neg() };
    let positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(abs.wrapping_neg(), integer_bits));
    if a > 0 {
        positive
    } else {
        // One() in Q0.31 is the saturated maximum.
        i32::MAX.wrapping_sub(positive)
    }
}
