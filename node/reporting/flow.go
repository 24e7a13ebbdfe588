package reporting

import "math"

// The audit as a flow problem.
//
// The equations of a table with margins make it a network: every cell is
// in at most two equations, with coefficient +1 as a part and −1 as a
// total, and after negating some of the equations (the column equations
// of a 2-D table, and the one over the column totals) every cell has +1
// in one and −1 in the other. A cell is then an arc from the equation
// where it is +1 to the one where it is −1 (a cell in one equation only,
// as in a 1-D table, runs to or from an extra node), and an equation is
// conservation of flow at its node: the published cells are fixed
// supplies, the suppressed cells the arcs' flows, all ≥ 0.
//
// The tables consistent with what is published are then the feasible
// flows, and, from the true table x, the others are x plus a circulation
// in the residual network (an arc u→v of flow f can carry any amount more
// from u to v, and up to f back). So cell e (an arc u→v) can grow by the
// maximum flow from v to u, and shrink by the maximum flow from u to v
// (at most x_e), both in the residual network without e itself. This is
// the exact minimum and maximum of the two linear programmes the
// simplex solves (a linear programme over a network is a flow problem),
// found by augmenting paths on integers. A search for a range that only
// has to be need wide stops as soon as it is.

// flowInf is an unbounded capacity, and the flow that means "unbounded".
const flowInf = int64(1) << 60

type arc struct {
	to, cell int // cell: the index into the system's cells
	cap      int64
}

type network struct {
	nodes int
	arcs  []arc   // arcs 2i and 2i+1 are a cell's forward and back arcs
	out   [][]int // node → its arcs
	ends  map[int][2]int
	arcOf map[int]int // cell → its forward arc
}

// network returns the system's suppressed cells as a flow network, or
// false if the system is not one (a cell in more than two equations, or
// signs that cannot be made to agree) or the counts of its suppressed
// cells are not a feasible table.
func (s *system) network() (*network, bool) {
	for _, c := range s.cells {
		if c.Count < 0 {
			return nil, false
		}
	}
	for _, eq := range s.eqs {
		sum := 0
		for _, p := range eq.parts {
			sum += s.cells[p].Count
		}
		if sum != s.cells[eq.total].Count {
			return nil, false
		}
	}
	coef := func(c, e int) int {
		if s.eqs[e].total == c {
			return -1
		}
		return 1
	}
	// Signs of the equations: a cell in equations e and f needs
	// sign(e)·coef(c, e) = −sign(f)·coef(c, f).
	sign := make([]int, len(s.eqs))
	var adj = make([][][2]int, len(s.eqs)) // e → (f, product of the signs needed)
	for c, es := range s.inEq {
		switch len(es) {
		case 0, 1:
		case 2:
			need := -coef(c, es[0]) * coef(c, es[1])
			adj[es[0]] = append(adj[es[0]], [2]int{es[1], need})
			adj[es[1]] = append(adj[es[1]], [2]int{es[0], need})
		default:
			return nil, false
		}
	}
	for e := range sign {
		if sign[e] != 0 {
			continue
		}
		sign[e] = 1
		stack := []int{e}
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, a := range adj[u] {
				want := sign[u] * a[1]
				switch sign[a[0]] {
				case 0:
					sign[a[0]] = want
					stack = append(stack, a[0])
				case want:
				default:
					return nil, false
				}
			}
		}
	}
	ground := len(s.eqs)
	n := &network{nodes: ground + 1, out: make([][]int, ground+1), ends: map[int][2]int{}, arcOf: map[int]int{}}
	for c, cl := range s.cells {
		if cl.Mark == Published {
			continue
		}
		es := s.inEq[c]
		if len(es) == 0 {
			return nil, false
		}
		u, v := es[0], ground
		if len(es) == 2 {
			v = es[1]
		}
		if sign[es[0]]*coef(c, es[0]) < 0 {
			u, v = v, u
		}
		n.ends[c] = [2]int{u, v}
		n.arcOf[c] = len(n.arcs)
		n.out[u] = append(n.out[u], len(n.arcs))
		n.arcs = append(n.arcs, arc{to: v, cell: c, cap: flowInf})
		n.out[v] = append(n.out[v], len(n.arcs))
		n.arcs = append(n.arcs, arc{to: u, cell: c, cap: int64(cl.Count)})
	}
	return n, true
}

// maxFlow returns the maximum flow from src to dst, up to limit, in the
// residual network without the arcs of cell skip. Capacities are taken
// from n and not changed.
func (n *network) maxFlow(src, dst, skip int, limit int64, res []int64, prev []int, queue []int) int64 {
	for i, a := range n.arcs {
		res[i] = a.cap
		if a.cell == skip {
			res[i] = 0
		}
	}
	flow := int64(0)
	for flow < limit {
		for i := range prev {
			prev[i] = -1
		}
		prev[src] = -2
		queue = append(queue[:0], src)
		for h := 0; h < len(queue) && prev[dst] == -1; h++ {
			u := queue[h]
			for _, ai := range n.out[u] {
				if v := n.arcs[ai].to; res[ai] > 0 && prev[v] == -1 {
					prev[v] = ai
					queue = append(queue, v)
				}
			}
		}
		if prev[dst] == -1 {
			break
		}
		push := limit - flow
		for v := dst; v != src; {
			ai := prev[v]
			push = min(push, res[ai])
			v = n.arcs[ai^1].to
		}
		for v := dst; v != src; {
			ai := prev[v]
			res[ai] -= push
			if res[ai^1] < flowInf {
				res[ai^1] += push
			}
			v = n.arcs[ai^1].to
		}
		flow += push
	}
	return flow
}

// flowAudit is audit on the system's network; false if it has none.
func (s *system) flowAudit(need float64, want func(int) bool) ([]cellRange, bool) {
	n, ok := s.network()
	if !ok {
		return nil, false
	}
	limit, exact := flowInf, need >= float64(flowInf)
	if !exact {
		limit = int64(math.Ceil(need))
	}
	res := make([]int64, len(n.arcs))
	prev := make([]int, n.nodes)
	queue := make([]int, 0, n.nodes)
	var out []cellRange
	for c, cl := range s.cells {
		if cl.Mark == Published || (want != nil && !want(c)) {
			continue
		}
		x := int64(cl.Count)
		uv := n.ends[c]
		up := n.maxFlow(uv[1], uv[0], c, limit, res, prev, queue)
		down := int64(0)
		switch {
		case exact:
			down = n.maxFlow(uv[0], uv[1], c, x, res, prev, queue)
		case up < limit:
			down = n.maxFlow(uv[0], uv[1], c, min(x, limit-up), res, prev, queue)
		}
		hi := float64(x + up)
		if up >= flowInf {
			hi = math.Inf(1)
		}
		out = append(out, cellRange{Range: Range{Cell: s.names[c], Value: cl.Count, Mark: cl.Mark, Lo: float64(x - down), Hi: hi}, id: c})
	}
	return out, true
}
