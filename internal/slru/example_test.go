package slru_test

import (
	"fmt"
	"slices"

	"github.com/wombatkv/prefetch/internal/slru"
)

// A flat tier of 40 bytes under "probation:0.5": two blocks read, two
// prefetched, then a third prefetch evicts the oldest prefetch, not a
// block that was read.
func ExampleNew() {
	adm, err := slru.ParseAdmission("probation:0.5")
	if err != nil {
		panic(err)
	}
	const budget = 40
	o := slru.New(5, budget, adm.ProbationBudget(budget))
	o.Admit(0, 10, slru.PlaceFront, nil) // read
	o.Admit(1, 10, slru.PlaceFront, nil) // read
	o.Admit(2, 10, adm.Place(), nil)     // prefetched
	o.Admit(3, 10, adm.Place(), nil)     // prefetched
	victims, _ := o.Admit(4, 10, adm.Place(), nil)
	fmt.Println("evicted", victims)
	fmt.Println("next to go first", slices.Collect(o.All()))
	// Output:
	// evicted [2]
	// next to go first [3 4 0 1]
}
