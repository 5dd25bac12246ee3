//! One dependency graph over containers and VMs.
//!
//! An edge `a → b` means "`a` needs `b` first": `b` is `a`'s clone source
//! ([`EdgeKind::Clone`]) or one of its `dependencies` ([`EdgeKind::Depends`]). IDs cross
//! kinds freely (a container may depend on a VM). Everything here is pure and deterministic:
//! ties are always broken by numeric ID, never by hash or input order.
//!
//! - [`Graph::topo_order`]: prerequisites first, the smallest ID whenever there is a choice;
//! - [`Graph::closure`]: a target set plus everything it (transitively) needs;
//! - [`Graph::cycles`]: every cycle, named node by node;
//! - [`boot_order`]: the start order (`boot_order`, default 999, ties by ID);
//! - [`Scheduler`]: the ready-set API the dispatcher uses to run independent branches
//!   concurrently while stopping only the dependents of a failed guest.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::fmt;

use crate::ids::GuestId;

/// Boot order of a guest that sets none (the shell version's default).
pub const DEFAULT_BOOT_ORDER: u32 = 999;

/// Why one guest needs another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    /// `clone_from_ctid`/`clone_from_vmid`: needed to *create* the guest.
    Clone,
    /// `dependencies`: needed to *run* the guest (and created before it).
    Depends,
}

/// A dependency cycle, node by node (the last node needs the first).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct CycleError(pub Vec<GuestId>);

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dependency cycle: ")?;
        for id in &self.0 {
            write!(f, "{id} -> ")?;
        }
        match self.0.first() {
            Some(first) => write!(f, "{first}"),
            None => Ok(()),
        }
    }
}

/// Guests and what each needs first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    nodes: BTreeSet<GuestId>,
    /// node → prerequisites, in the order they were added (clone source first).
    needs: BTreeMap<GuestId, Vec<(GuestId, EdgeKind)>>,
}

impl Graph {
    /// Adds a node (idempotent).
    pub fn add_node(&mut self, id: GuestId) {
        self.nodes.insert(id);
    }

    /// Records that `from` needs `to` first. Both become nodes. Duplicate edges are kept once.
    pub fn add_edge(&mut self, from: GuestId, to: GuestId, kind: EdgeKind) {
        self.nodes.insert(from);
        self.nodes.insert(to);
        let list = self.needs.entry(from).or_default();
        if !list.contains(&(to, kind)) {
            list.push((to, kind));
        }
    }

    /// Every node, ascending.
    pub fn nodes(&self) -> impl Iterator<Item = GuestId> + '_ {
        self.nodes.iter().copied()
    }

    /// Whether `id` is a node.
    pub fn contains(&self, id: GuestId) -> bool {
        self.nodes.contains(&id)
    }

    /// Direct prerequisites of `id` (with their kind), in insertion order.
    pub fn needs(&self, id: GuestId) -> &[(GuestId, EdgeKind)] {
        self.needs.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Nodes that directly need `id`, ascending.
    pub fn needed_by(&self, id: GuestId) -> Vec<GuestId> {
        self.needs
            .iter()
            .filter(|(_, v)| v.iter().any(|(t, _)| *t == id))
            .map(|(k, _)| *k)
            .collect()
    }

    /// The same nodes with only the edges of the given kinds.
    pub fn only(&self, kinds: &[EdgeKind]) -> Graph {
        let mut g = Graph {
            nodes: self.nodes.clone(),
            needs: BTreeMap::new(),
        };
        for (from, list) in &self.needs {
            for (to, k) in list {
                if kinds.contains(k) {
                    g.add_edge(*from, *to, *k);
                }
            }
        }
        g
    }

    /// The nodes in `keep` and the edges between them.
    pub fn induced(&self, keep: &BTreeSet<GuestId>) -> Graph {
        let mut g = Graph::default();
        for id in keep.iter().filter(|id| self.nodes.contains(id)) {
            g.add_node(*id);
            for (to, k) in self.needs(*id) {
                if keep.contains(to) {
                    g.add_edge(*id, *to, *k);
                }
            }
        }
        g
    }

    /// `targets` plus everything they transitively need (targets not in the graph are kept).
    pub fn closure(&self, targets: impl IntoIterator<Item = GuestId>) -> BTreeSet<GuestId> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<GuestId> = targets.into_iter().collect();
        while let Some(id) = queue.pop_front() {
            if seen.insert(id) {
                queue.extend(self.needs(id).iter().map(|(t, _)| *t));
            }
        }
        seen
    }

    /// Everything that transitively needs `id` (not including `id`).
    pub fn dependents(&self, id: GuestId) -> BTreeSet<GuestId> {
        let mut out = BTreeSet::new();
        let mut queue = VecDeque::from([id]);
        while let Some(n) = queue.pop_front() {
            for d in self.needed_by(n) {
                if d != id && out.insert(d) {
                    queue.push_back(d);
                }
            }
        }
        out
    }

    /// Prerequisites first; among nodes that are ready at the same time, the smallest ID first.
    /// Fails with one of the cycles when there is any.
    pub fn topo_order(&self) -> Result<Vec<GuestId>, CycleError> {
        let mut indegree: BTreeMap<GuestId, usize> = self.nodes.iter().map(|n| (*n, 0)).collect();
        let mut dependents: BTreeMap<GuestId, BTreeSet<GuestId>> = BTreeMap::new();
        for (from, list) in &self.needs {
            let uniq: BTreeSet<GuestId> = list.iter().map(|(t, _)| *t).collect();
            for to in uniq {
                *indegree.entry(*from).or_default() += 1;
                dependents.entry(to).or_default().insert(*from);
            }
        }
        let mut ready: BinaryHeap<Reverse<GuestId>> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| Reverse(*n))
            .collect();
        let mut out = Vec::with_capacity(self.nodes.len());
        while let Some(Reverse(n)) = ready.pop() {
            out.push(n);
            for d in dependents.get(&n).into_iter().flatten() {
                let e = indegree.get_mut(d).expect("every node has an in-degree");
                *e -= 1;
                if *e == 0 {
                    ready.push(Reverse(*d));
                }
            }
        }
        if out.len() == self.nodes.len() {
            Ok(out)
        } else {
            Err(CycleError(
                self.cycles().into_iter().next().unwrap_or_default(),
            ))
        }
    }

    /// Every cycle, one per strongly connected component (or self-loop), each starting at
    /// its smallest ID and following edges; sorted by that ID.
    pub fn cycles(&self) -> Vec<Vec<GuestId>> {
        let mut out = Vec::new();
        for scc in self.sccs() {
            let start = *scc.iter().next().expect("components are non-empty");
            let self_loop = self.needs(start).iter().any(|(t, _)| *t == start);
            if scc.len() == 1 && !self_loop {
                continue;
            }
            if self_loop {
                out.push(vec![start]);
                continue;
            }
            // Shortest path start → … → start inside the component (BFS, smallest IDs first).
            let mut prev: BTreeMap<GuestId, GuestId> = BTreeMap::new();
            let mut queue = VecDeque::from([start]);
            let mut closing = None;
            'bfs: while let Some(n) = queue.pop_front() {
                let mut next: Vec<GuestId> = self
                    .needs(n)
                    .iter()
                    .map(|(t, _)| *t)
                    .filter(|t| scc.contains(t))
                    .collect();
                next.sort();
                for t in next {
                    if t == start {
                        closing = Some(n);
                        break 'bfs;
                    }
                    if let std::collections::btree_map::Entry::Vacant(e) = prev.entry(t) {
                        e.insert(n);
                        queue.push_back(t);
                    }
                }
            }
            let mut path = Vec::new();
            let mut cur = closing.expect("a non-trivial component has a cycle through every node");
            while cur != start {
                path.push(cur);
                cur = prev[&cur];
            }
            path.push(start);
            path.reverse();
            out.push(path);
        }
        out.sort();
        out
    }

    /// Strongly connected components (iterative Tarjan), each as a sorted set.
    fn sccs(&self) -> Vec<BTreeSet<GuestId>> {
        #[derive(Clone, Copy)]
        struct Info {
            index: usize,
            low: usize,
            on_stack: bool,
        }
        let mut info: BTreeMap<GuestId, Info> = BTreeMap::new();
        let mut stack: Vec<GuestId> = Vec::new();
        let mut out = Vec::new();
        let mut next_index = 0;
        for &root in &self.nodes {
            if info.contains_key(&root) {
                continue;
            }
            // (node, next edge position)
            let mut work: Vec<(GuestId, usize)> = vec![(root, 0)];
            info.insert(
                root,
                Info {
                    index: next_index,
                    low: next_index,
                    on_stack: true,
                },
            );
            next_index += 1;
            stack.push(root);
            while let Some(&mut (n, ref mut pos)) = work.last_mut() {
                let edges = self.needs(n);
                if *pos < edges.len() {
                    let (t, _) = edges[*pos];
                    *pos += 1;
                    match info.get(&t).copied() {
                        None => {
                            info.insert(
                                t,
                                Info {
                                    index: next_index,
                                    low: next_index,
                                    on_stack: true,
                                },
                            );
                            next_index += 1;
                            stack.push(t);
                            work.push((t, 0));
                        }
                        Some(ti) if ti.on_stack => {
                            let ni = info.get_mut(&n).expect("visited");
                            ni.low = ni.low.min(ti.index);
                        }
                        Some(_) => {}
                    }
                } else {
                    work.pop();
                    let ni = info[&n];
                    if let Some(&(parent, _)) = work.last() {
                        let pi = info.get_mut(&parent).expect("visited");
                        pi.low = pi.low.min(ni.low);
                    }
                    if ni.low == ni.index {
                        let mut comp = BTreeSet::new();
                        while let Some(m) = stack.pop() {
                            info.get_mut(&m).expect("visited").on_stack = false;
                            comp.insert(m);
                            if m == n {
                                break;
                            }
                        }
                        out.push(comp);
                    }
                }
            }
        }
        out
    }
}

/// Sorts guests for starting: ascending `boot_order` (absent = [`DEFAULT_BOOT_ORDER`]), ties
/// by numeric ID.
pub fn boot_order(items: impl IntoIterator<Item = (GuestId, Option<u32>)>) -> Vec<GuestId> {
    let mut v: Vec<(u32, GuestId)> = items
        .into_iter()
        .map(|(id, o)| (o.unwrap_or(DEFAULT_BOOT_ORDER), id))
        .collect();
    v.sort();
    v.into_iter().map(|(_, id)| id).collect()
}

/// Where a guest is in a scheduled run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Not started; waiting for prerequisites or a free slot.
    Pending,
    /// Handed out by [`Scheduler::ready`] and not finished yet.
    Running,
    /// Finished successfully.
    Done,
    /// Finished with an error.
    Failed,
    /// Never run because a prerequisite failed (or was itself skipped).
    Skipped {
        /// The failed guest that caused the skip.
        because: GuestId,
    },
}

/// Hands out guests whose prerequisites are done, so independent branches can run
/// concurrently; a failure skips the failed guest's dependents and nothing else.
///
/// Only edges between members count: a prerequisite outside the member set is assumed to be
/// satisfied (the caller decided it need not run).
#[derive(Clone, Debug)]
pub struct Scheduler {
    graph: Graph,
    rank: BTreeMap<GuestId, usize>,
    state: BTreeMap<GuestId, NodeState>,
}

impl Scheduler {
    /// A schedule over `members` using `graph`'s edges between them.
    pub fn new(graph: &Graph, members: &BTreeSet<GuestId>) -> Result<Self, CycleError> {
        let mut g = graph.induced(members);
        for m in members {
            g.add_node(*m);
        }
        let order = g.topo_order()?;
        let rank = order.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        let state = order.iter().map(|id| (*id, NodeState::Pending)).collect();
        Ok(Self {
            graph: g,
            rank,
            state,
        })
    }

    /// The members in the order a one-at-a-time run would take them.
    pub fn order(&self) -> Vec<GuestId> {
        let mut v: Vec<GuestId> = self.state.keys().copied().collect();
        v.sort_by_key(|id| self.rank[id]);
        v
    }

    /// Pending guests whose prerequisites are all done, in topological order.
    pub fn ready(&self) -> Vec<GuestId> {
        let mut v: Vec<GuestId> = self
            .state
            .iter()
            .filter(|(_, s)| **s == NodeState::Pending)
            .map(|(id, _)| *id)
            .filter(|id| {
                self.graph
                    .needs(*id)
                    .iter()
                    .all(|(t, _)| self.state.get(t) == Some(&NodeState::Done))
            })
            .collect();
        v.sort_by_key(|id| self.rank[id]);
        v
    }

    /// Marks a ready guest as running.
    pub fn start(&mut self, id: GuestId) {
        if let Some(s) = self.state.get_mut(&id) {
            debug_assert_eq!(*s, NodeState::Pending, "{id} started twice");
            *s = NodeState::Running;
        }
    }

    /// Records the result of a running guest; on failure, returns the guests skipped because
    /// of it (its pending dependents, transitively).
    pub fn finish(&mut self, id: GuestId, ok: bool) -> Vec<GuestId> {
        let Some(s) = self.state.get_mut(&id) else {
            return Vec::new();
        };
        *s = if ok {
            NodeState::Done
        } else {
            NodeState::Failed
        };
        if ok {
            return Vec::new();
        }
        let mut skipped = Vec::new();
        for d in self.graph.dependents(id) {
            if let Some(ds) = self.state.get_mut(&d) {
                if *ds == NodeState::Pending {
                    *ds = NodeState::Skipped { because: id };
                    skipped.push(d);
                }
            }
        }
        skipped.sort_by_key(|id| self.rank[id]);
        skipped
    }

    /// Whether nothing is pending or running.
    pub fn is_finished(&self) -> bool {
        self.state
            .values()
            .all(|s| !matches!(s, NodeState::Pending | NodeState::Running))
    }

    /// Whether any guest is running.
    pub fn any_running(&self) -> bool {
        self.state.values().any(|s| *s == NodeState::Running)
    }

    /// The state of one member.
    pub fn state(&self, id: GuestId) -> Option<NodeState> {
        self.state.get(&id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> GuestId {
        GuestId(n)
    }

    fn ids(v: &[u32]) -> Vec<GuestId> {
        v.iter().map(|n| GuestId(*n)).collect()
    }

    /// The shipped reference estate (cli-and-hypervisor.md §4.6).
    fn reference() -> Graph {
        let mut g = Graph::default();
        let c = EdgeKind::Clone;
        let d = EdgeKind::Depends;
        for (from, to, k) in [
            (901, 900, c),
            (901, 1002, d),
            (910, 901, c),
            (911, 901, c),
            (912, 901, c),
            (801, 911, c),
            (801, 1002, d),
            (802, 911, c),
            (802, 1002, d),
            (101, 900, c),
            (101, 103, d),
            (914, 901, c),
            (914, 1002, d),
            (917, 901, c),
            (917, 1002, d),
            (103, 900, c),
            (102, 900, c),
            (102, 103, d),
            (1001, 9000, c),
            (1001, 102, d),
            (1002, 9000, c),
            (1002, 1001, d),
        ] {
            g.add_edge(id(from), id(to), k);
        }
        g
    }

    #[test]
    fn topo_order_puts_prerequisites_first_and_is_deterministic() {
        let g = reference();
        let order = g.topo_order().unwrap();
        assert_eq!(
            order,
            ids(&[
                900, 103, 101, 102, 9000, 1001, 1002, 901, 910, 911, 801, 802, 912, 914, 917
            ])
        );
        let pos = |n: GuestId| order.iter().position(|x| *x == n).unwrap();
        for n in g.nodes() {
            for (t, _) in g.needs(n) {
                assert!(pos(*t) < pos(n), "{t} must come before {n}");
            }
        }
        // Insertion order does not matter.
        let mut h = Graph::default();
        for n in g.nodes().collect::<Vec<_>>().into_iter().rev() {
            for (t, k) in g.needs(n).iter().rev() {
                h.add_edge(n, *t, *k);
            }
        }
        assert_eq!(h.topo_order().unwrap(), order);
    }

    #[test]
    fn closures_follow_every_edge_transitively() {
        let g = reference();
        assert_eq!(
            g.closure([id(101), id(102)]),
            ids(&[900, 103, 101, 102]).into_iter().collect()
        );
        assert_eq!(
            g.closure([id(801)]),
            ids(&[801, 911, 901, 900, 1002, 9000, 1001, 102, 103])
                .into_iter()
                .collect()
        );
        assert_eq!(g.closure([id(900)]), ids(&[900]).into_iter().collect());
        // Only runtime dependencies: 801 needs 1002 and its dependency chain, not the clone chain.
        let runtime = g.only(&[EdgeKind::Depends]);
        assert_eq!(
            runtime.closure([id(801)]),
            ids(&[801, 1002, 1001, 102, 103]).into_iter().collect()
        );
        assert_eq!(
            g.dependents(id(911)),
            ids(&[801, 802]).into_iter().collect()
        );
        assert!(g.dependents(id(917)).is_empty());
    }

    #[test]
    fn cycles_are_named_node_by_node() {
        let mut g = reference();
        assert!(g.cycles().is_empty());
        g.add_edge(id(900), id(101), EdgeKind::Depends);
        let cycles = g.cycles();
        assert_eq!(cycles, vec![ids(&[101, 900])]);
        let err = g.topo_order().unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: 101 -> 900 -> 101");

        let mut s = Graph::default();
        s.add_edge(id(300), id(300), EdgeKind::Depends);
        s.add_edge(id(200), id(201), EdgeKind::Depends);
        s.add_edge(id(201), id(202), EdgeKind::Depends);
        s.add_edge(id(202), id(200), EdgeKind::Clone);
        assert_eq!(s.cycles(), vec![ids(&[200, 201, 202]), ids(&[300])]);
    }

    #[test]
    fn boot_order_defaults_to_999_and_ties_by_id() {
        let order = boot_order([
            (id(1002), Some(5)),
            (id(900), None),
            (id(103), Some(1)),
            (id(101), Some(2)),
            (id(102), Some(2)),
            (id(200), Some(999)),
        ]);
        assert_eq!(order, ids(&[103, 101, 102, 1002, 200, 900]));
    }

    #[test]
    fn scheduler_runs_independent_branches_and_isolates_failures() {
        let g = reference();
        let all: BTreeSet<GuestId> = g.nodes().collect();
        let mut s = Scheduler::new(&g, &all).unwrap();
        assert_eq!(s.ready(), ids(&[900, 9000]));
        s.start(id(900));
        s.start(id(9000));
        assert!(s.ready().is_empty());
        s.finish(id(9000), true);
        assert!(s.ready().is_empty(), "1001 still needs 102");
        s.finish(id(900), true);
        assert_eq!(s.ready(), ids(&[103]));
        s.start(id(103));
        let skipped = s.finish(id(103), false);
        // 103's dependents fail transitively: 101, 102, then 1001 and 1002 (and their clones).
        assert_eq!(
            skipped,
            ids(&[101, 102, 1001, 1002, 901, 910, 911, 801, 802, 912, 914, 917])
        );
        assert_eq!(
            s.state(id(1002)),
            Some(NodeState::Skipped { because: id(103) })
        );
        assert!(s.is_finished());
    }

    #[test]
    fn scheduler_keeps_siblings_of_a_failed_guest() {
        let g = reference();
        let members: BTreeSet<GuestId> = ids(&[901, 910, 911, 801]).into_iter().collect();
        let mut s = Scheduler::new(&g, &members).unwrap();
        assert_eq!(s.order(), ids(&[901, 910, 911, 801]));
        s.start(id(901));
        s.finish(id(901), true);
        assert_eq!(s.ready(), ids(&[910, 911]));
        s.start(id(910));
        s.start(id(911));
        assert!(s.finish(id(910), false).is_empty(), "910 has no dependents");
        assert!(s.ready().is_empty());
        assert!(s.any_running());
        s.finish(id(911), true);
        assert_eq!(s.ready(), ids(&[801]));
    }

    #[test]
    fn scheduler_rejects_cycles() {
        let mut g = Graph::default();
        g.add_edge(id(101), id(102), EdgeKind::Depends);
        g.add_edge(id(102), id(101), EdgeKind::Depends);
        let all: BTreeSet<GuestId> = g.nodes().collect();
        assert_eq!(
            Scheduler::new(&g, &all).unwrap_err(),
            CycleError(ids(&[101, 102]))
        );
    }
}
