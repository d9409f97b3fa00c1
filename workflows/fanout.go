package workflows

import "go.temporal.io/sdk/workflow"

// eachAtMost runs work(ctx, i) for every i in [0, n), each in a coroutine
// of its own started in order, at most limit at once, and waits for them
// all. An item whose turn comes after ctx was cancelled does not run: its
// work is not called, and notRun(i, err) is when not nil.
func eachAtMost(ctx workflow.Context, n, limit int, work func(ctx workflow.Context, i int), notRun func(i int, err error)) {
	sem := workflow.NewSemaphore(ctx, int64(limit))
	wg := workflow.NewWaitGroup(ctx)
	for i := range n {
		wg.Add(1)
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			if err := sem.Acquire(ctx, 1); err != nil {
				if notRun != nil {
					notRun(i, err)
				}
				return
			}
			defer sem.Release(1)
			work(ctx, i)
		})
	}
	wg.Wait(ctx)
}
