// Command ctfill fills the conntrack table of the current network
// namespace with N synthetic TCP flows, for the table-listing benchmark
// (scripts/bench-table.sh) and the tests of reset conntrack. Run it only
// inside a namespace made for the purpose: it adds entries to whatever
// table it is given.
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"sync"

	"github.com/ctsync/ctsync/internal/ctflow"
)

func main() {
	n := flag.Int("n", 250000, "flows to create")
	workers := flag.Int("workers", 4, "parallel netlink sockets")
	markEvery := flag.Int("mark-every", 0, "give every Nth flow (i % N == 0) mark 1, for tests of filtered deletes")
	flag.Parse()
	var wg sync.WaitGroup
	errs := make(chan error, *workers)
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c, err := ctflow.Dial()
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			// Created a batch at a time: ctflow sends DeleteBatch
			// requests per sendmsg and reads their acks.
			batch := make([]ctflow.Flow, 0, 4*ctflow.DeleteBatch)
			flush := func() error {
				err := ctflow.Create(c, batch)
				batch = batch[:0]
				return err
			}
			for i := w; i < *n; i += *workers {
				// Distinct 5-tuples: 10.x.y.z sources over one destination.
				src := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				dst := netip.AddrFrom4([4]byte{192, 0, 2, 1})
				sport := uint16(1024 + i%60000)
				mark := uint32(0)
				if *markEvery > 0 && i%*markEvery == 0 {
					mark = 1
				}
				f := ctflow.EstablishedTCP(src, dst, sport, 80, 3600)
				// CONFIRMED must be in the status: the kernel sets it on
				// creation and refuses (EBUSY) a request that clears it.
				f.Status = ctflow.StatusSeenReply | ctflow.StatusAssured | ctflow.StatusConfirmed
				f.Mark = mark
				batch = append(batch, f)
				if len(batch) == cap(batch) {
					if err := flush(); err != nil {
						errs <- fmt.Errorf("flows up to %d: %w", i, err)
						return
					}
				}
			}
			if err := flush(); err != nil {
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		fmt.Fprintln(os.Stderr, "ctfill:", err)
		os.Exit(1)
	}
}
