package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/amicrypt/amicrypt/internal/config"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
	"github.com/amicrypt/amicrypt/workflows"
)

type scheduleFlags struct {
	operator string
	config   string
	every    time.Duration
	id       string
	note     string
	json     bool
	conn     temporalconn.Options
}

func newScheduleCmd(g *globalFlags) *cobra.Command {
	f := &scheduleFlags{}
	cmd := &cobra.Command{
		Use:   "schedule SUBCOMMAND",
		Short: "Run the sweep on a Temporal Schedule: create, describe, pause, unpause or delete it",
		Long: `Manage the Temporal Schedule that runs the sweep ('amicrypt sweep --help' says what
a sweep looks at and does) at a fixed interval, so drifted key policies, keys due
for rotation and AMIs under stale keys are found without anyone remembering.

  create     create the schedule (or update it, when it exists) from the config:
             its targets and rotation: block; every rotation.every (default 24h),
             or --every. A sweep still running when the next is due makes the
             next one skip (overlap policy SKIP).
  describe   paused or not, the interval, the next run times and the recent
             sweeps with their workflow ids ('amicrypt status ID' shows one).
  pause      stop starting sweeps (--note says why); unpause starts again.
  delete     delete the schedule; running sweeps go on.

The schedule's sweeps record "schedule <id>" as their operator. The config is
read when the schedule is created: after changing it, run create again.`,
		Example: `  amicrypt schedule create --config amicrypt.yaml               # every rotation.every (24h)
  amicrypt schedule create --config amicrypt.yaml --every 6h     # or update it
  amicrypt schedule describe
  amicrypt schedule pause --note "change freeze until Monday"
  amicrypt schedule unpause
  amicrypt schedule delete`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError("schedule needs a subcommand: create, describe, pause, unpause or delete (see 'amicrypt schedule --help')")
			}
			return usageError("unknown schedule subcommand %q: use create, describe, pause, unpause or delete (see 'amicrypt schedule --help')", args[0])
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.config, "config", "", "amicrypt config file (YAML): required by create (its targets and rotation: block); the other subcommands accept it and need nothing from it")
	pf.StringVar(&f.id, "id", workflows.ScheduleID, "the schedule's id")
	pf.BoolVar(&f.json, "json", false, "print machine-readable JSON")
	f.conn.BindFlags(pf)

	create := &cobra.Command{
		Use:   "create --config FILE [--every 24h]",
		Short: "Create the sweep's schedule from the config, or update it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := useOperator(cmd, f.operator); err != nil {
				return err
			}
			opts, err := scheduleOptionsFromFlags(f, cmd.Flags().Changed("every"))
			if err != nil {
				return err
			}
			if opts.Warning != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), opts.Warning)
			}
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				updated, err := createOrUpdateSchedule(ctx, c, opts)
				if err != nil {
					return err
				}
				d, err := describeSchedule(ctx, c, opts.ID)
				if err != nil {
					return err
				}
				verb := "created"
				if updated {
					verb = "updated"
				}
				if f.json {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"result": verb, "schedule": d})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s schedule %s: a sweep of %d targets every %s\n", verb, opts.ID, d.Targets, formatEvery(d.Every))
				writeScheduleDescription(cmd.OutOrStdout(), d)
				return nil
			})
		},
	}
	bindOperator(create.Flags(), &f.operator)
	create.Flags().DurationVar(&f.every, "every", 0, "interval between sweeps, at least 1m (default: the config's rotation.every, else 24h)")

	describe := &cobra.Command{
		Use:   "describe",
		Short: "Show the schedule: paused or not, interval, next runs, recent sweeps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				d, err := describeSchedule(ctx, c, f.id)
				if err != nil {
					return err
				}
				if f.json {
					return writeJSON(cmd.OutOrStdout(), d)
				}
				writeScheduleDescription(cmd.OutOrStdout(), d)
				return nil
			})
		},
	}

	pause := &cobra.Command{
		Use:   "pause [--note TEXT]",
		Short: "Stop the schedule from starting sweeps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				note := f.note
				if note == "" {
					note = "paused by " + defaultOperator()
				}
				h, err := scheduleHandle(ctx, c, f.id)
				if err != nil {
					return err
				}
				if err := h.Pause(ctx, client.SchedulePauseOptions{Note: note}); err != nil {
					return scheduleError(f.id, "pausing", err)
				}
				return printScheduleChange(cmd, f, "paused", c)
			})
		},
	}
	unpause := &cobra.Command{
		Use:   "unpause [--note TEXT]",
		Short: "Let the schedule start sweeps again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				note := f.note
				if note == "" {
					note = "unpaused by " + defaultOperator()
				}
				h, err := scheduleHandle(ctx, c, f.id)
				if err != nil {
					return err
				}
				if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: note}); err != nil {
					return scheduleError(f.id, "unpausing", err)
				}
				return printScheduleChange(cmd, f, "unpaused", c)
			})
		},
	}
	for _, c := range []*cobra.Command{pause, unpause} {
		c.Flags().StringVar(&f.note, "note", "", "why (shown by describe; default: who did it)")
	}
	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the schedule (sweeps already running go on)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTemporal(cmd, g, f.conn, func(ctx context.Context, c client.Client) error {
				h, err := scheduleHandle(ctx, c, f.id)
				if err != nil {
					return err
				}
				if err := h.Delete(ctx); err != nil {
					return scheduleError(f.id, "deleting", err)
				}
				if f.json {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"result": "deleted", "id": f.id})
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted schedule %s\n", f.id)
				return nil
			})
		},
	}
	cmd.AddCommand(create, describe, pause, unpause, del)
	return cmd
}

// scheduleOptions is what create makes: the schedule and its sweep.
type scheduleOptions struct {
	ID        string
	Every     time.Duration
	TaskQueue string
	Input     workflows.SweepInput
	// Warning: the action's input is large (sweepInputFits).
	Warning string
}

// scheduleOptionsFromFlags checks the flags and the config before anything
// is contacted.
func scheduleOptionsFromFlags(f *scheduleFlags, everyGiven bool) (scheduleOptions, error) {
	if f.id == "" {
		return scheduleOptions{}, usageError("--id is empty: give the schedule an id (default %s)", workflows.ScheduleID)
	}
	if everyGiven && f.every < config.MinSweepEvery {
		return scheduleOptions{}, usageError("--every %s is too often: the sweep runs at most every %s (default: the config's rotation.every, else %s)", f.every, formatEvery(config.MinSweepEvery), formatEvery(config.DefaultSweepEvery))
	}
	cfg, targets, err := loadConfigForTargets("schedule create", f.config)
	if err != nil {
		return scheduleOptions{}, err
	}
	every := cfg.Rotation.WithDefaults().Every
	if everyGiven {
		every = f.every
	}
	in := sweepInput(cfg, targets, "schedule "+f.id)
	warning, err := sweepInputFits(in)
	if err != nil {
		return scheduleOptions{}, err
	}
	return scheduleOptions{
		ID: f.id, Every: every, TaskQueue: f.conn.TaskQueue,
		Input: in, Warning: warning,
	}, nil
}

func (o scheduleOptions) spec() client.ScheduleSpec {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: o.Every}}}
}

// action starts a Sweep; Temporal appends the scheduled time to the
// workflow id (amicrypt-sweep-2026-11-23T16:00:00Z for the default id).
func (o scheduleOptions) action() *client.ScheduleWorkflowAction {
	return &client.ScheduleWorkflowAction{
		ID:        o.ID,
		Workflow:  workflows.Sweep,
		Args:      []any{o.Input},
		TaskQueue: o.TaskQueue,
	}
}

// createOrUpdateSchedule creates the schedule, or updates the spec, action
// and overlap policy of the one already there (updated = true), keeping its
// paused state and note.
func createOrUpdateSchedule(ctx context.Context, c client.Client, o scheduleOptions) (updated bool, err error) {
	_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
		ID:      o.ID,
		Spec:    o.spec(),
		Action:  o.action(),
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note:    "created by " + defaultOperator(),
	})
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return false, fmt.Errorf("creating schedule %s: %w", o.ID, err)
	}
	h := c.ScheduleClient().GetHandle(ctx, o.ID)
	err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
		s := in.Description.Schedule
		spec := o.spec()
		s.Spec = &spec
		s.Action = o.action()
		if s.Policy == nil {
			s.Policy = &client.SchedulePolicies{}
		}
		s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
		return &client.ScheduleUpdate{Schedule: &s}, nil
	}})
	if err != nil {
		return false, scheduleError(o.ID, "updating", err)
	}
	return true, nil
}

// scheduleHandle is the schedule's handle, once it is known to exist.
func scheduleHandle(ctx context.Context, c client.Client, id string) (client.ScheduleHandle, error) {
	h := c.ScheduleClient().GetHandle(ctx, id)
	if _, err := h.Describe(ctx); err != nil {
		return nil, scheduleError(id, "looking up", err)
	}
	return h, nil
}

// scheduleError says plainly that a schedule does not exist (exit 1).
func scheduleError(id, doing string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return &exitError{code: 1, err: fmt.Errorf("no schedule %s in this namespace: create it with 'amicrypt schedule create --config FILE%s'", id, idFlag(id))}
	}
	return fmt.Errorf("%s schedule %s: %w", doing, id, err)
}

func idFlag(id string) string {
	if id == workflows.ScheduleID {
		return ""
	}
	return " --id " + id
}

// scheduleDescription is what describe prints (and its --json).
type scheduleDescription struct {
	ID              string           `json:"id"`
	Paused          bool             `json:"paused"`
	Note            string           `json:"note,omitempty"`
	Every           time.Duration    `json:"-"`
	EveryText       string           `json:"every"`
	Overlap         string           `json:"overlap"`
	TaskQueue       string           `json:"task_queue,omitempty"`
	Targets         int              `json:"targets"`
	NextRuns        []time.Time      `json:"next_runs"`
	RecentSweeps    []scheduledSweep `json:"recent_sweeps"`
	Running         []string         `json:"running,omitempty"`
	Actions         int              `json:"actions"`
	SkippedOverlap  int              `json:"skipped_overlap"`
	CreatedAt       time.Time        `json:"created_at"`
	LastUpdatedAt   *time.Time       `json:"last_updated_at,omitempty"`
	MaxKeyAgeDays   int              `json:"max_key_age_days"`
	ConcurrentRotns int              `json:"concurrent_rotations"`
}

type scheduledSweep struct {
	ScheduledAt time.Time `json:"scheduled_at"`
	StartedAt   time.Time `json:"started_at"`
	WorkflowID  string    `json:"workflow_id"`
}

func describeSchedule(ctx context.Context, c client.Client, id string) (*scheduleDescription, error) {
	desc, err := c.ScheduleClient().GetHandle(ctx, id).Describe(ctx)
	if err != nil {
		return nil, scheduleError(id, "describing", err)
	}
	d := &scheduleDescription{
		ID:             id,
		NextRuns:       desc.Info.NextActionTimes,
		Actions:        desc.Info.NumActions,
		SkippedOverlap: desc.Info.NumActionsSkippedOverlap,
		CreatedAt:      desc.Info.CreatedAt,
		RecentSweeps:   []scheduledSweep{},
	}
	if !desc.Info.LastUpdateAt.IsZero() {
		t := desc.Info.LastUpdateAt
		d.LastUpdatedAt = &t
	}
	if st := desc.Schedule.State; st != nil {
		d.Paused, d.Note = st.Paused, st.Note
	}
	if sp := desc.Schedule.Spec; sp != nil && len(sp.Intervals) > 0 {
		d.Every = sp.Intervals[0].Every
	}
	d.EveryText = formatEvery(d.Every)
	d.Overlap = "skip"
	if p := desc.Schedule.Policy; p != nil && p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_SKIP && p.Overlap != enumspb.SCHEDULE_OVERLAP_POLICY_UNSPECIFIED {
		d.Overlap = strings.ToLower(strings.TrimPrefix(p.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_"))
	}
	if a, ok := desc.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		d.TaskQueue = a.TaskQueue
		if len(a.Args) > 0 {
			var in workflows.SweepInput
			// The action's input as the client encoded it (compressed,
			// encrypted with a payload key).
			if p, ok := a.Args[0].(*commonpb.Payload); ok && temporalconn.DataConverter(c).FromPayload(p, &in) == nil {
				d.Targets, d.MaxKeyAgeDays, d.ConcurrentRotns = len(in.Targets), in.MaxKeyAgeDays, in.ConcurrentRotations
			}
		}
	}
	for _, r := range desc.Info.RecentActions {
		s := scheduledSweep{ScheduledAt: r.ScheduleTime, StartedAt: r.ActualTime}
		if r.StartWorkflowResult != nil {
			s.WorkflowID = r.StartWorkflowResult.WorkflowID
		}
		d.RecentSweeps = append(d.RecentSweeps, s)
	}
	for _, w := range desc.Info.RunningWorkflows {
		d.Running = append(d.Running, w.WorkflowID)
	}
	return d, nil
}

func writeScheduleDescription(w io.Writer, d *scheduleDescription) {
	state := "active"
	if d.Paused {
		state = "paused"
	}
	fmt.Fprintf(w, "schedule %s: %s", d.ID, state)
	if d.Note != "" {
		fmt.Fprintf(w, " (%s)", d.Note)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  every      %s, overlap %s; a sweep of %d targets (max key age %s, %d rotations at once) on task queue %s\n",
		d.EveryText, d.Overlap, d.Targets, maxAge(d.MaxKeyAgeDays), d.ConcurrentRotns, d.TaskQueue)
	switch {
	case d.Paused:
		fmt.Fprintln(w, "  next runs  none while paused ('amicrypt schedule unpause')")
	case len(d.NextRuns) == 0:
		fmt.Fprintln(w, "  next runs  none")
	default:
		var next []string
		for i, t := range d.NextRuns {
			if i == 3 {
				break
			}
			next = append(next, t.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(w, "  next runs  %s\n", strings.Join(next, ", "))
	}
	if len(d.RecentSweeps) == 0 {
		fmt.Fprintln(w, "  recent     no sweep yet")
	}
	for _, s := range d.RecentSweeps {
		fmt.Fprintf(w, "  recent     %s  %s\n", s.StartedAt.UTC().Format(time.RFC3339), s.WorkflowID)
	}
	for _, id := range d.Running {
		fmt.Fprintf(w, "  running    %s\n", id)
	}
	fmt.Fprintf(w, "  sweeps     %d started, %d skipped (the previous one still running)\n", d.Actions, d.SkippedOverlap)
}

func maxAge(days int) string {
	if days == 0 {
		return "never"
	}
	return fmt.Sprintf("%dd", days)
}

func printScheduleChange(cmd *cobra.Command, f *scheduleFlags, verb string, c client.Client) error {
	d, err := describeSchedule(cmd.Context(), c, f.id)
	if err != nil {
		return err
	}
	if f.json {
		return writeJSON(cmd.OutOrStdout(), map[string]any{"result": verb, "schedule": d})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s schedule %s\n", verb, f.id)
	writeScheduleDescription(cmd.OutOrStdout(), d)
	return nil
}

// formatEvery prints 24h rather than 24h0m0s.
func formatEvery(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// withTemporal dials Temporal with the command's flags and calls fn.
func withTemporal(cmd *cobra.Command, g *globalFlags, conn temporalconn.Options, fn func(context.Context, client.Client) error) error {
	log, err := g.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	c, err := temporalconn.Dial(ctx, conn, log)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(ctx, c)
}
