//! Choosing an action: which nodes a task fits ([`fits`]), the greedy choice among the valid
//! ones ([`masked_argmax`]), and the optional filter a policy applies before it
//! ([`ActionFilter`]: [`narrow_to_fitting`], [`filtered_argmax`]).

use serde::{Deserialize, Serialize};

/// Tolerance of "the demand fits the capacity": demands summed in floating point may overshoot
/// a capacity by rounding.
pub const FIT_EPS: f64 = 1e-9;

/// Whether every demand fits its capacity: `demand[k] ≤ capacity[k] + FIT_EPS` for each `k`
/// (pairs are zipped; extra values of the longer slice are ignored).
///
/// ```
/// assert!(policy_core::fits(&[2.0, 4.0 + 1e-10], &[2.0, 4.0]));
/// assert!(!policy_core::fits(&[2.0, 5.0], &[2.0, 4.0]));
/// ```
pub fn fits(demand: &[f64], capacity: &[f64]) -> bool {
    demand.iter().zip(capacity).all(|(&d, &c)| d <= c + FIT_EPS)
}

/// The valid action (`mask[a]` true) with the largest `q[a]`, the lowest index on ties, or
/// `None` if every action is masked. A NaN value never beats a number, and a number always beats
/// a NaN (a NaN is chosen only when every valid value is NaN: then the last one).
///
/// Pairs are zipped: actions beyond the shorter of `q` and `mask` are never chosen.
pub fn masked_argmax(q: &[f32], mask: &[bool]) -> Option<usize> {
    argmax_where(q, mask.len(), |a| mask[a])
}

/// The action `a < n` with `admitted(a)` and the largest `q[a]`, by [`masked_argmax`]'s rule
/// (lowest index on ties; a NaN never beats a number).
fn argmax_where(q: &[f32], n: usize, admitted: impl Fn(usize) -> bool) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (a, &v) in q.iter().take(n).enumerate() {
        if admitted(a) && best.is_none_or(|(_, b)| v > b || b.is_nan()) {
            best = Some((a, v));
        }
    }
    best.map(|(a, _)| a)
}

/// Which of the valid nodes a policy chooses among.
///
/// `FitsNow` is the filter step of the Kubernetes scheduler (and of every packing heuristic here):
/// when the task would start at once on some valid node, only such nodes are candidates; when it
/// fits nowhere now, every valid node is (the task queues, and the policy chooses where). The
/// network then only scores, as a Kubernetes score plugin does. A learned network that ranks
/// nodes well can still rank a busy node first by a small error, which makes a task wait beside
/// an idle node that could run it; the filter rules that mistake out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionFilter {
    /// Every valid node is a candidate.
    #[default]
    None,
    /// The valid nodes where the task fits now, when there are any (read from the observation's
    /// packing column, [`crate::ObservationLayout::fits_now_column`]).
    FitsNow,
}

impl ActionFilter {
    /// Every filter, in the order error messages list them.
    pub const ALL: [ActionFilter; 2] = [ActionFilter::None, ActionFilter::FitsNow];

    /// The filter called `name` ([`ActionFilter::name`]).
    ///
    /// # Errors
    /// An unknown name, with the valid ones.
    pub fn from_name(name: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let valid: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("{name:?} is not an action filter; expected one of {}", valid.join(", "))
        })
    }

    /// The name used in configuration files, on the command line and in `meta.json`.
    pub fn name(self) -> &'static str {
        match self {
            ActionFilter::None => "none",
            ActionFilter::FitsNow => "fits-now",
        }
    }

    /// Whether this is [`ActionFilter::None`] (for `skip_serializing_if`).
    pub fn is_none(&self) -> bool {
        *self == ActionFilter::None
    }

    /// The node-row column the filter reads in observations of `layout`: `Ok(None)` for
    /// [`ActionFilter::None`], the packing option's "fits now" column for
    /// [`ActionFilter::FitsNow`].
    ///
    /// # Errors
    /// `FitsNow` on a layout without that column, with what would be valid.
    pub fn column(self, layout: &crate::ObservationLayout) -> Result<Option<usize>, String> {
        match self {
            ActionFilter::None => Ok(None),
            ActionFilter::FitsNow => layout.fits_now_column().map(Some).ok_or_else(|| {
                format!(
                    "the fits-now action filter reads the observation's packing columns, which the {} observation \
                     does not have: use observation = {{ kind = \"scalable\", packing = true }}",
                    layout.kind_name()
                )
            }),
        }
    }
}

/// The fits-now test of node `a` (its row's value at `column` is > 0.5; rows beyond `obs` do
/// not fit), and whether any valid node of `mask` passes it.
fn fits_now<'a>(
    obs: &'a [f32],
    node_width: usize,
    column: usize,
    mask: &[bool],
) -> (impl Fn(usize) -> bool + 'a, bool) {
    let fits = move |a: usize| obs.get(a * node_width + column).is_some_and(|&v| v > 0.5);
    let any = mask.iter().enumerate().any(|(a, &valid)| valid && fits(a));
    (fits, any)
}

/// Narrows `mask` in place to the actions [`ActionFilter`] admits: with `column = Some(c)`, the
/// valid nodes whose row (of `node_width` values, starting at `a · node_width` of `obs`) has
/// `obs[a · node_width + c] > 0.5`, if any valid node does; otherwise (no fitting node, or
/// `column = None`) `mask` is left as it is. Returns whether it narrowed anything. Never
/// allocates.
///
/// Rows beyond `obs` count as not fitting.
///
/// ```
/// use policy_core::narrow_to_fitting;
/// // Three nodes of 2 values each; the second value says "fits now".
/// let obs = [0.3, 0.0, 0.9, 1.0, 0.5, 1.0, 7.0];
/// let mut mask = [true, true, false];
/// assert!(narrow_to_fitting(&obs, 2, Some(1), &mut mask));
/// assert_eq!(mask, [false, true, false]); // node 2 fits but is not valid
/// let mut none_fits = [true, false, false];
/// assert!(!narrow_to_fitting(&obs, 2, Some(1), &mut none_fits));
/// assert_eq!(none_fits, [true, false, false]);
/// ```
pub fn narrow_to_fitting(obs: &[f32], node_width: usize, column: Option<usize>, mask: &mut [bool]) -> bool {
    let Some(c) = column else { return false };
    let (fits, any) = fits_now(obs, node_width, c, mask);
    let mut narrowed = false;
    for (a, valid) in mask.iter_mut().enumerate() {
        if any && *valid && !fits(a) {
            *valid = false;
            narrowed = true;
        }
    }
    narrowed
}

/// The greedy action under a filter: [`masked_argmax`] over the valid actions that
/// [`narrow_to_fitting`] would keep, without writing a mask (for callers whose mask is not
/// theirs to change). `column` as in [`narrow_to_fitting`]; `None` is plain [`masked_argmax`].
pub fn filtered_argmax(
    q: &[f32],
    mask: &[bool],
    obs: &[f32],
    node_width: usize,
    column: Option<usize>,
) -> Option<usize> {
    let Some(c) = column else { return masked_argmax(q, mask) };
    let (fits, any) = fits_now(obs, node_width, c, mask);
    argmax_where(q, mask.len(), |a| mask[a] && (!any || fits(a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fits_now_filter_keeps_the_fitting_valid_nodes_or_all_valid_ones() {
        // Four nodes, rows of 3 values, column 2 says "fits now".
        let obs = [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, /* task */ 9.0];
        let q = [1.0, 5.0, 2.0, 7.0];
        // Nodes 0 and 2 fit; the best valid node (3) does not, so the filter picks 2.
        assert_eq!(masked_argmax(&q, &[true; 4]), Some(3));
        assert_eq!(filtered_argmax(&q, &[true; 4], &obs, 3, Some(2)), Some(2));
        let mut mask = [true; 4];
        assert!(narrow_to_fitting(&obs, 3, Some(2), &mut mask));
        assert_eq!(mask, [true, false, true, false]);
        // A fitting node that is not valid does not count: with node 0 the only fitting valid
        // node, it is chosen; with no fitting valid node, every valid one is a candidate.
        assert_eq!(filtered_argmax(&q, &[true, true, false, true], &obs, 3, Some(2)), Some(0));
        let mut mask = [false, true, false, true];
        assert!(!narrow_to_fitting(&obs, 3, Some(2), &mut mask));
        assert_eq!(mask, [false, true, false, true]);
        assert_eq!(filtered_argmax(&q, &mask, &obs, 3, Some(2)), Some(3));
        // Every valid node fits: nothing to narrow.
        let mut mask = [true, false, true, false];
        assert!(!narrow_to_fitting(&obs, 3, Some(2), &mut mask));
        // No filter: the mask as it is.
        assert_eq!(filtered_argmax(&q, &[true; 4], &obs, 3, None), Some(3));
        assert!(!narrow_to_fitting(&obs, 3, None, &mut [true; 4]));
        assert_eq!(filtered_argmax(&q, &[false; 4], &obs, 3, Some(2)), None);
        // The filtered choice is the plain choice over the narrowed mask, whatever the Q-values.
        for q in [[3.0, 1.0, 3.0, 0.0], [f32::NAN, 0.0, f32::NAN, 9.0], [-1.0, 4.0, -2.0, 4.0]] {
            let mut mask = [true, true, true, false];
            let chosen = filtered_argmax(&q, &mask, &obs, 3, Some(2));
            narrow_to_fitting(&obs, 3, Some(2), &mut mask);
            assert_eq!(chosen, masked_argmax(&q, &mask), "{q:?}");
        }
    }

    #[test]
    fn action_filter_names_and_layouts() {
        use crate::ObservationLayout;
        assert_eq!(serde_json::to_string(&ActionFilter::FitsNow).unwrap(), "\"fits-now\"");
        assert_eq!(serde_json::from_str::<ActionFilter>("\"none\"").unwrap(), ActionFilter::None);
        assert!(serde_json::from_str::<ActionFilter>("\"fits\"").is_err());
        assert_eq!((ActionFilter::None.name(), ActionFilter::FitsNow.name()), ("none", "fits-now"));
        for f in ActionFilter::ALL {
            assert_eq!(ActionFilter::from_name(f.name()), Ok(f));
            assert_eq!(serde_json::to_value(f).unwrap(), f.name(), "one name everywhere");
        }
        assert_eq!(
            ActionFilter::from_name("fit-now").unwrap_err(),
            "\"fit-now\" is not an action filter; expected one of none, fits-now"
        );
        let park = ObservationLayout::Park { n_nodes: 2, resources: vec!["slot".into()], high: 1.0 };
        assert_eq!(ActionFilter::None.column(&park), Ok(None));
        let err = ActionFilter::FitsNow.column(&park).unwrap_err();
        assert!(err.contains("park observation") && err.contains("packing = true"), "{err}");
    }

    #[test]
    fn masked_argmax_breaks_ties_low_and_skips_nan() {
        // dqn's cases.
        assert_eq!(masked_argmax(&[1.0, 3.0, 3.0], &[true; 3]), Some(1));
        assert_eq!(masked_argmax(&[f32::NAN, 0.5], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[1.0, 2.0], &[false, false]), None);
        assert_eq!(masked_argmax(&[5.0, 2.0], &[false, true]), Some(1));
        // policy's: equal Q-values go to the lowest valid index.
        assert_eq!(masked_argmax(&[7.5, 7.5], &[true, true]), Some(0));
        assert_eq!(masked_argmax(&[7.5, 7.5], &[false, true]), Some(1));
    }

    #[test]
    fn masked_argmax_nan_and_infinities() {
        // A NaN after a number does not replace it; a number after a NaN does.
        assert_eq!(masked_argmax(&[0.5, f32::NAN, 0.25], &[true; 3]), Some(0));
        // All NaN: a later NaN replaces an earlier one (the rule "a NaN best is replaced").
        assert_eq!(masked_argmax(&[f32::NAN, f32::NAN], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[f32::NAN, f32::NEG_INFINITY], &[true; 2]), Some(1));
        assert_eq!(masked_argmax(&[f32::NEG_INFINITY, f32::NEG_INFINITY], &[true; 2]), Some(0));
        assert_eq!(masked_argmax(&[1.0, f32::INFINITY, 9.0], &[true, false, true]), Some(2));
        assert_eq!(masked_argmax(&[-0.0, 0.0], &[true; 2]), Some(0), "−0 and 0 tie");
        assert_eq!(masked_argmax(&[], &[]), None);
        // Zipped: the action without a mask entry is never chosen.
        assert_eq!(masked_argmax(&[1.0, 2.0], &[true]), Some(0));
    }

    #[test]
    fn fits_within_the_tolerance() {
        assert!(fits(&[4.0 + 0.5e-9, 20.0], &[4.0, 20.0]));
        assert!(!fits(&[4.0 + 2e-9, 20.0], &[4.0, 20.0]));
        assert!(fits(&[0.0], &[0.0]));
        assert!(!fits(&[1.0], &[0.0]));
        assert!(fits(&[], &[1.0]));
        assert!(!fits(&[f64::NAN], &[1.0]), "NaN fits nothing");
    }
}
