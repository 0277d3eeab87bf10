package broker

// SetOverMemoryBudgetForTest puts the broker over (or under) its memory
// budget without allocating gigabytes.
func SetOverMemoryBudgetForTest(b *Broker, over bool) { b.memOver.Store(over) }
