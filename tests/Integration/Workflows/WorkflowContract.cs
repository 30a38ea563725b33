using System.Globalization;
using Celeriac.Brokers;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.TestTasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Celeriac.IntegrationTests.Workflows;

/// <summary>
/// Chains, groups and chords through the generated signatures, with a worker in the same host. One suite, run on Redis
/// (<see cref="WorkflowTests"/>), the in-process broker (<see cref="InProcessWorkflowUnitTests"/>) and a Redis Cluster
/// (<c>ClusterWorkflowTests</c>), so the brokers keep one semantics.
/// </summary>
public abstract class WorkflowContract(ITestOutputHelper output) : IAsyncLifetime
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    protected readonly ITestOutputHelper Output = output;
    protected readonly MemoryLedger Ledger = new();
    protected readonly string Prefix = RedisFixture.NewPrefix();
    protected readonly List<IHost> Hosts = [];
    private IHost? _host;

    /// <summary>The Redis configuration string, or null for the in-process broker.</summary>
    protected abstract string? Redis { get; }

    protected ITaskClient Client => (_host ?? throw new InvalidOperationException("The host was not started.")).Services.GetRequiredService<ITaskClient>();

    public virtual async Task InitializeAsync()
    {
        IHost host = await TestHost.StartAsync(Output, "worker-1", Redis, Prefix, Ledger);
        Hosts.Add(host);
        _host = host;
    }

    public async Task DisposeAsync()
    {
        foreach (CeleriacClient second in _seconds)
        {
            await second.DisposeAsync();
        }

        await TestHost.StopAllAsync(Hosts);
    }

    /// <summary>A client of another process's kind: its own connection, sharing nothing with the sender but the broker.</summary>
    protected virtual async Task<ITaskClient> SecondClientAsync()
    {
        CeleriacClient second = await CeleriacClient.ConnectAsync(new CeleriacOptions { Redis = Redis, KeyPrefix = Prefix });
        _seconds.Add(second);
        return second;
    }

    private readonly List<CeleriacClient> _seconds = [];

    private static string NewRun() => "flow-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task A_chain_passes_each_result_to_the_next_step_and_runs_each_step_once_in_order()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(
                Flows.StepTask.Sig(1, run, "a", 0),
                Flows.StepTask.Then(run, "b", 0),
                Flows.StepTask.Then(run, "c", 0))
            .DelayAsync(Client);

        long value = await last.GetAsync(Timeout);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Output.WriteLine($"chain result {value}; ledger [{string.Join(", ", ledger)}]");
        Assert.Equal(1111, value);
        Assert.Equal(["start:a", "done:a", "start:b", "done:b", "start:c", "done:c"], ledger);
        Assert.Equal(TaskState.Success, (await Flows.StepTask.Handle(Client, last.Id).GetResultAsync()).State);
    }

    [Fact]
    public async Task A_later_step_is_the_child_of_the_step_before_it_and_shares_the_chains_root()
    {
        string run = NewRun();
        TaskHandle<string> last = await Workflow.Chain(Flows.StepTask.Sig(4, run, "a", 0), Flows.LineageTask.Then()).DelayAsync(Client);
        string[] parts = (await last.GetAsync(Timeout)).Split('|');
        Output.WriteLine($"lineage: value {parts[0]}, id {parts[1]}, parent {parts[2]}, root {parts[3]}");
        Assert.Equal("41", parts[0]);
        Assert.Equal(last.Id, parts[1]);
        Assert.NotEqual(parts[1], parts[2]);
        Assert.Equal(parts[2], parts[3]); // the first step has no parent: it is the root, and the second step's parent
    }

    [Fact]
    public async Task A_chain_sent_from_inside_a_running_task_is_that_tasks_child_and_shares_its_root()
    {
        string run = NewRun();
        TaskHandle<string> spawner = await Lineage.SpawnChainTask.DelayAsync(Client, run);
        string lastId = await spawner.GetAsync(Timeout);
        string[] parts = (await Flows.LineageTask.Handle(Client, lastId).GetAsync(Timeout)).Split('|');
        Output.WriteLine($"spawner {spawner.Id}; last step: value {parts[0]}, id {parts[1]}, parent {parts[2]}, root {parts[3]}");
        Assert.Equal("11", parts[0]);
        Assert.Equal(lastId, parts[1]);
        Assert.Equal(spawner.Id, parts[3]); // the workflow belongs to the spawner's tree
        Assert.NotEqual(spawner.Id, parts[2]); // its parent is the chain's first step, itself the spawner's child
    }

    [Fact]
    public async Task A_step_that_fails_ends_the_chain_and_its_handle_throws_naming_that_step()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(
                Flows.StepTask.Sig(2, run, "a", 0),
                Flows.FailStepTask.Then(run),
                Flows.StepTask.Then(run, "c", 0))
            .DelayAsync(Client);

        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => last.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Equal(typeof(ArgumentException).FullName, failure.RemoteType);
        Assert.Contains(Flows.FailStepTask.Name, failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains("step got 21 and refuses it", failure.RemoteMessage, StringComparison.Ordinal);
        await Task.Delay(500); // a step sent by mistake would run now
        Assert.DoesNotContain("start:c", await Ledger.ReadAsync(run));
    }

    [Fact]
    public async Task Revoking_a_chains_handle_before_its_last_step_is_sent_revokes_that_step()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(3, run, "a", 300), Flows.StepTask.Then(run, "b", 0)).DelayAsync(Client);
        await last.RevokeAsync();

        await Assert.ThrowsAsync<TaskRevokedException>(() => last.GetAsync(Timeout));
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(["start:a", "done:a"], ledger); // the first step ran; the revoked one never started
    }

    [Fact]
    public async Task A_group_returns_its_results_in_call_order()
    {
        string run = NewRun();
        GroupHandle<long> group = await Workflow.Group(Enumerable.Range(0, 20).Select(n => Flows.SquareTask.Sig(run, n, 20 - n))).DelayAsync(Client);
        long[] values = await group.GetAsync(Timeout);
        Assert.Equal(20, group.Members.Count);
        Assert.Equal(Enumerable.Range(0, 20).Select(n => (long)n * n), values);
    }

    [Fact]
    public async Task A_chord_runs_its_callback_once_with_every_result_in_call_order()
    {
        string run = NewRun();
        TaskHandle<string> list = await Workflow.Chord(Enumerable.Range(0, 30).Select(n => Flows.SquareTask.Sig(run, n, (n * 7) % 11)), Flows.ListTask.Then(run)).DelayAsync(Client);
        string value = await list.GetAsync(Timeout);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        string expected = string.Join(",", Enumerable.Range(0, 30).Select(n => ((long)n * n).ToString(CultureInfo.InvariantCulture)));
        Assert.Equal(expected, value);
        Assert.Single(ledger, e => e.StartsWith("list:", StringComparison.Ordinal));
        // Never before the last member's outcome: the callback's entry comes after every member's.
        Assert.Equal(ledger.Count - 1, ledger.ToList().FindIndex(e => e.StartsWith("list:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_chord_whose_members_retry_calls_back_only_after_the_last_one_succeeded()
    {
        string run = NewRun();
        TaskHandle<long> total = await Workflow.Chord(Enumerable.Range(1, 12).Select(n => Flows.FlakySquareTask.Sig(run, n, n % 3)), Flows.SumTask.Then(run)).DelayAsync(Client);
        long sum = await total.GetAsync(Timeout);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Output.WriteLine($"sum {sum}; ledger [{string.Join(", ", ledger)}]");
        Assert.Equal(Enumerable.Range(1, 12).Sum(n => (long)n * n), sum);
        Assert.Equal(["sum:12:" + sum.ToString(CultureInfo.InvariantCulture)], ledger.Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        Assert.Equal(ledger.Count - 1, ledger.ToList().FindIndex(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        Assert.Equal(Enumerable.Range(1, 12).Sum(n => (n % 3) + 1), ledger.Count(e => e.StartsWith("try:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_member_that_fails_for_good_fails_the_chord_runs_its_error_callback_once_and_never_the_callback()
    {
        string run = NewRun();
        IEnumerable<TaskSignature<long>> members = Enumerable.Range(0, 10).Select(n => n == 7 ? Flows.BrokenTask.Sig(run, n) : Flows.SquareTask.Sig(run, n, 0));
        TaskHandle<long> total = await Workflow.Chord(members, Flows.SumTask.Then(run)).OnError(Flows.AlertTask.Then(run)).DelayAsync(Client);

        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => total.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Equal(typeof(InvalidOperationException).FullName, failure.RemoteType);
        Assert.Contains("chord member 7", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains(Flows.BrokenTask.Name, failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains("member 7 is broken", failure.RemoteMessage, StringComparison.Ordinal);

        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("alert:", StringComparison.Ordinal)), Timeout, "the error callback to run");
        await Task.Delay(1000); // a second error callback, or the callback, would run now
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        string alert = Assert.Single(ledger, e => e.StartsWith("alert:", StringComparison.Ordinal));
        Assert.Contains("chord member 7", alert, StringComparison.Ordinal);
        Assert.DoesNotContain(ledger, e => e.StartsWith("sum:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_member_set_aside_as_a_dead_letter_fails_the_chord_too()
    {
        string run = NewRun();
        IEnumerable<TaskSignature<long>> members = Enumerable.Range(0, 5).Select(n => n == 3 ? Flows.BrokenDeadTask.Sig(run, n) : Flows.SquareTask.Sig(run, n, 0));
        TaskHandle<long> total = await Workflow.Chord(members, Flows.SumTask.Then(run)).OnError(Flows.AlertTask.Then(run)).DelayAsync(Client);

        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => total.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Contains("chord member 3", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains("member 3 is set aside", failure.RemoteMessage, StringComparison.Ordinal);
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("alert:", StringComparison.Ordinal)), Timeout, "the error callback to run");
        DeadLetter letter = Assert.Single(await ((CeleriacClient)Client).GetDeadLettersAsync("slow"));
        Assert.Equal(Flows.BrokenDeadTask.Name, letter.TaskName);
        Assert.DoesNotContain(await Ledger.ReadAsync(run), e => e.StartsWith("sum:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chord_followed_by_a_step_hands_the_callbacks_result_on()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chord(Enumerable.Range(1, 3).Select(n => Flows.SquareTask.Sig(run, n, 0)), Flows.SumTask.Then(run))
            .Then(Flows.StepTask.Then(run, "after", 0))
            .DelayAsync(Client);
        Assert.Equal(141, await last.GetAsync(Timeout)); // (1 + 4 + 9) * 10 + 1
    }

    [Fact]
    public async Task A_chord_of_chains_calls_back_with_each_chains_last_result()
    {
        string run = NewRun();
        IEnumerable<TaskChain<long>> chains = Enumerable.Range(1, 4).Select(n => Workflow.Chain(Flows.StepTask.Sig(n, run, $"{n}a", 0), Flows.StepTask.Then(run, $"{n}b", 0)));
        TaskHandle<string> list = await Workflow.Chord(chains, Flows.ListTask.Then(run)).DelayAsync(Client);
        Assert.Equal("111,211,311,411", await list.GetAsync(Timeout)); // (n * 10 + 1) * 10 + 1, in call order
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(ledger.Count - 1, ledger.ToList().FindIndex(e => e.StartsWith("list:", StringComparison.Ordinal)));
        Assert.Equal(16, ledger.Count(e => !e.StartsWith("list:", StringComparison.Ordinal))); // every step once
    }

    [Fact]
    public async Task A_chord_of_chains_fails_when_a_middle_step_fails_and_the_chain_goes_no_further()
    {
        string run = NewRun();
        TaskChain<long>[] chains =
        [
            Workflow.Chain(Flows.StepTask.Sig(1, run, "1a", 0), Flows.StepTask.Then(run, "1b", 0)),
            Workflow.Chain(Flows.StepTask.Sig(2, run, "2a", 0), Flows.FailStepTask.Then(run), Flows.StepTask.Then(run, "2c", 0)),
        ];
        TaskHandle<long> total = await Workflow.Chord(chains, Flows.SumTask.Then(run)).DelayAsync(Client);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => total.GetAsync(Timeout));
        Assert.Contains("chord member 1", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains("step got 21 and refuses it", failure.RemoteMessage, StringComparison.Ordinal);
        await Task.Delay(500);
        Assert.DoesNotContain("start:2c", await Ledger.ReadAsync(run));
    }

    [Fact]
    public async Task A_group_of_chains_returns_each_chains_last_result_in_call_order()
    {
        string run = NewRun();
        GroupHandle<long> group = await Workflow.Group(Enumerable.Range(1, 3).Select(n => Workflow.Chain(Flows.StepTask.Sig(n, run, $"{n}a", 30 - (10 * n)), Flows.StepTask.Then(run, $"{n}b", 0)))).DelayAsync(Client);
        long[] values = await group.GetAsync(Timeout);
        Assert.Equal(new long[] { 111, 211, 311 }, values);
    }

    [Fact]
    public async Task A_chord_without_members_calls_back_at_once_with_no_results()
    {
        string run = NewRun();
        TaskHandle<long> total = await Workflow.Chord(Array.Empty<TaskSignature<long>>(), Flows.SumTask.Then(run)).DelayAsync(Client);
        Assert.Equal(0, await total.GetAsync(Timeout));
        Assert.Equal(["sum:0:0"], await Ledger.ReadAsync(run));
    }

    [Fact]
    public async Task Per_signature_options_route_and_delay_each_step()
    {
        string run = NewRun();
        // Step is routed to "slow"; its second step goes to "default" instead, after a countdown.
        TaskHandle<long> last = await Workflow.Chain(
                Flows.StepTask.Sig(5, run, "a", 0).WithPriority(7),
                Flows.StepTask.Then(run, "b", 0).WithQueue("default").WithCountdown(TimeSpan.FromMilliseconds(300)))
            .DelayAsync(Client);
        Assert.Equal("default", last.Queue);
        Assert.Equal(511, await last.GetAsync(Timeout));
        Assert.Equal(TaskState.Success, (await Client.GetResultAsync(last.Id, "default", default)).State);
    }

    [Fact]
    public async Task A_groups_handle_is_re_created_from_its_id_by_a_client_that_did_not_send_it()
    {
        string run = NewRun();
        GroupHandle<long> sent = await Workflow.Group(Enumerable.Range(0, 8).Select(n => Flows.SquareTask.Sig(run, n, 8 - n))).DelayAsync(Client);

        ITaskClient second = await SecondClientAsync();
        GroupHandle<long> opened = await Workflow.OpenGroupAsync(second, sent.Id, Flows.SquareTask.Handle);
        Assert.Equal(sent.Id, opened.Id);
        Assert.Equal(sent.Members.Select(m => m.Id), opened.Members.Select(m => m.Id));
        Assert.Equal(sent.Members.Select(m => m.Queue), opened.Members.Select(m => m.Queue));
        Assert.Equal(Enumerable.Range(0, 8).Select(n => (long)n * n), await opened.GetAsync(Timeout));
    }

    [Fact]
    public async Task A_group_of_chains_is_re_created_with_each_chains_last_step()
    {
        string run = NewRun();
        GroupHandle<long> sent = await Workflow.Group(Enumerable.Range(1, 3).Select(n => Workflow.Chain(Flows.StepTask.Sig(n, run, $"{n}a", 0), Flows.StepTask.Then(run, $"{n}b", 0)))).DelayAsync(Client);
        GroupHandle<long> opened = await Workflow.OpenGroupAsync(await SecondClientAsync(), sent.Id, Flows.StepTask.Handle);
        Assert.Equal(new long[] { 111, 211, 311 }, await opened.GetAsync(Timeout));
    }

    [Fact]
    public async Task Opening_a_group_id_that_was_never_sent_throws()
    {
        KeyNotFoundException missing = await Assert.ThrowsAsync<KeyNotFoundException>(() => Workflow.OpenGroupAsync(Client, "no-such-group-" + Guid.NewGuid().ToString("N"), Flows.SquareTask.Handle));
        Assert.Contains("never sent", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chain_and_chord_handles_are_re_created_from_their_ids_by_a_client_that_did_not_send_them()
    {
        string run = NewRun();
        TaskHandle<long> chain = await Workflow.Chain(Flows.StepTask.Sig(7, run, "a", 0), Flows.StepTask.Then(run, "b", 0)).DelayAsync(Client);
        TaskHandle<string> chord = await Workflow.Chord(Enumerable.Range(1, 4).Select(n => Flows.SquareTask.Sig(run, n, 0)), Flows.ListTask.Then(run)).DelayAsync(Client);

        ITaskClient second = await SecondClientAsync();
        Assert.Equal(711, await Flows.StepTask.Handle(second, chain.Id).GetAsync(Timeout));
        Assert.Equal("1,4,9,16", await Flows.ListTask.Handle(second, chord.Id).GetAsync(Timeout));
    }

    [Fact]
    public async Task Revoking_a_workflows_root_revokes_its_steps_that_have_not_run()
    {
        string run = NewRun();
        // The spawner is the root: the chain it sends belongs to its tree. Its first step is slow, so the revocation
        // comes while it runs (cancelled) and before the later steps are sent (revoked when they arrive, if ever).
        TaskHandle<string> spawner = await Lineage.SpawnSlowChainTask.DelayAsync(Client, run, 20_000);
        string lastId = await spawner.GetAsync(Timeout);
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Contains("start:s1"), Timeout, "the chain's first step to start");

        int revoked = await Workflow.RevokeAsync(await SecondClientAsync(), spawner.Id);
        Assert.Equal(4, revoked); // the root and the chain's three steps

        Exception ended = await Assert.ThrowsAnyAsync<Exception>(() => Flows.StepTask.Handle(Client, lastId).GetAsync(Timeout));
        Output.WriteLine($"{ended.GetType().Name}: {ended.Message}");
        Assert.True(ended is TaskFailedException or TaskRevokedException, ended.ToString());
        await Task.Delay(500); // a step sent by mistake would run now
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.DoesNotContain("done:s1", ledger);
        Assert.DoesNotContain("start:s2", ledger);
        Assert.DoesNotContain("start:s3", ledger);
    }

    [Fact]
    public async Task Revoking_a_chord_by_its_handle_revokes_its_members_not_yet_run_and_its_callback()
    {
        string run = NewRun();
        TaskHandle<long> total = await Workflow.Chord(Enumerable.Range(0, 8).Select(n => Flows.SquareTask.Sig(run, n, 20_000)), Flows.SumTask.Then(run))
            .OnError(Flows.AlertTask.Then(run))
            .DelayAsync(Client);
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("start:", StringComparison.Ordinal)), Timeout, "a member to start");

        int revoked = await Workflow.RevokeAsync(Client, total.Id);
        Assert.Equal(10, revoked); // 8 members, the callback, the error callback

        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => total.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Contains("chord member", failure.RemoteMessage, StringComparison.Ordinal);
        await Task.Delay(500);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.DoesNotContain(ledger, e => e.StartsWith("done:", StringComparison.Ordinal) || e.StartsWith("sum:", StringComparison.Ordinal) || e.StartsWith("alert:", StringComparison.Ordinal));
        Assert.True(ledger.Count(e => e.StartsWith("start:", StringComparison.Ordinal)) < 8, "members not yet started were revoked before they ran");
    }

    private static TaskStep<long, long>[] Pluses(string run, params long[] adds) => [.. adds.Select(add => Flows.PlusTask.Then(run, add))];

    [Fact]
    public async Task A_chain_into_a_group_gives_every_member_the_previous_result_and_returns_their_results_in_order()
    {
        string run = NewRun();
        TaskHandle<long[]> values = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0))
            .Then(Workflow.Group(Pluses(run, 1, 2, 3)))
            .DelayAsync(Client);
        Assert.Equal(new long[] { 22, 23, 24 }, await values.GetAsync(Timeout)); // 2 * 10 + 1 = 21, plus each
        ITaskClient second = await SecondClientAsync();
        Assert.Equal(TaskState.Success, (await second.GetResultAsync(values.Id, values.Queue, default)).State);
        Assert.Equal(new long[] { 22, 23, 24 }, await Workflow.ResultsOf(Flows.PlusTask.Handle)(second, values.Id, null).GetAsync(Timeout));
    }

    [Fact]
    public async Task A_chain_goes_on_after_a_group_with_every_members_result()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0))
            .Then(Workflow.Group(Pluses(run, 1, 2, 3)))
            .Then(Flows.SumTask.Then(run))
            .Then(Flows.StepTask.Then(run, "z", 0))
            .DelayAsync(Client);
        Assert.Equal(691, await last.GetAsync(Timeout)); // (22 + 23 + 24) * 10 + 1
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(["sum:3:69"], ledger.Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        Assert.Equal(3, ledger.Count(e => e.StartsWith("plus:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_chord_inside_a_chain_runs_its_callback_once_and_the_chain_goes_on()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(3, run, "a", 0))
            .Then(Workflow.Chord(Pluses(run, 10, 20, 30, 40), Flows.SumTask.Then(run)))
            .Then(Flows.StepTask.Then(run, "z", 0))
            .DelayAsync(Client);
        Assert.Equal(2241, await last.GetAsync(Timeout)); // 3 * 10 + 1 = 31; 41 + 51 + 61 + 71 = 224; 224 * 10 + 1
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(["sum:4:224"], ledger.Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        int sum = ledger.ToList().FindIndex(e => e.StartsWith("sum:", StringComparison.Ordinal));
        Assert.True(sum > ledger.ToList().FindLastIndex(e => e.StartsWith("plus:", StringComparison.Ordinal)), "the callback runs after every member");
        Assert.True(sum < ledger.ToList().IndexOf("start:z"), "the chain goes on after the callback");
    }

    [Fact]
    public async Task A_group_followed_by_a_step_is_a_chord()
    {
        string run = NewRun();
        TaskHandle<long> total = await Workflow.Group(Enumerable.Range(1, 5).Select(n => Flows.SquareTask.Sig(run, n, 0))).Then(Flows.SumTask.Then(run)).DelayAsync(Client);
        Assert.Equal(55, await total.GetAsync(Timeout));
        Assert.Equal(["sum:5:55"], (await Ledger.ReadAsync(run)).Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_chord_of_chains_that_end_in_groups_calls_back_with_each_groups_results()
    {
        string run = NewRun();
        IEnumerable<TaskChain<long[]>> chains = Enumerable.Range(1, 3).Select(n => Workflow.Chain(Flows.StepTask.Sig(n, run, $"{n}a", 0)).Then(Workflow.Group(Pluses(run, 1, 2))));
        TaskHandle<long> total = await Workflow.Chord(chains, Flows.SumNestedTask.Then(run)).DelayAsync(Client);
        Assert.Equal(135, await total.GetAsync(Timeout)); // sum over n of (10n + 2) + (10n + 3)
        Assert.Equal(["nested:3:135"], (await Ledger.ReadAsync(run)).Where(e => e.StartsWith("nested:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_group_of_chains_with_groups_inside_returns_each_chains_results()
    {
        string run = NewRun();
        GroupHandle<long[]> group = await Workflow.Group(Enumerable.Range(1, 2).Select(n => Workflow.Chain(Flows.StepTask.Sig(n, run, $"{n}a", 0)).Then(Workflow.Group(Pluses(run, 5, 6))))).DelayAsync(Client);
        long[][] values = await group.GetAsync(Timeout);
        Assert.Equal(new long[] { 16, 17 }, values[0]);
        Assert.Equal(new long[] { 26, 27 }, values[1]);
    }

    [Fact]
    public async Task A_member_of_a_group_inside_a_chain_that_fails_ends_the_chain_naming_that_member()
    {
        string run = NewRun();
        TaskStep<long, long>[] members = [Flows.PlusTask.Then(run, 1), Flows.FailStepTask.Then(run), Flows.PlusTask.Then(run, 3)];
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0))
            .Then(Workflow.Group(members))
            .Then(Flows.SumTask.Then(run))
            .DelayAsync(Client);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => last.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Equal(typeof(ArgumentException).FullName, failure.RemoteType);
        Assert.Contains("group member 1", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains(Flows.FailStepTask.Name, failure.RemoteMessage, StringComparison.Ordinal);
        await Task.Delay(500); // a callback sent by mistake would run now
        Assert.DoesNotContain(await Ledger.ReadAsync(run), e => e.StartsWith("sum:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_map_runs_every_call_in_one_message_and_returns_their_results_in_call_order()
    {
        string run = NewRun();
        TaskSignature<long[]> map = Workflow.Map(Enumerable.Range(0, 10).Select(n => Flows.SquareTask.Sig(run, n, 0)));
        Assert.Equal("celeriac.map", map.TaskName);
        Assert.Equal("slow", map.Queue);

        TaskHandle<long> total = await Workflow.Chain(map, Flows.SumTask.Then(run)).DelayAsync(Client);
        Assert.Equal(285, await total.GetAsync(Timeout));
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        // One message ran the calls one after the other, in call order.
        Assert.Equal(Enumerable.Range(0, 10).SelectMany(n => new[] { $"start:{n}", $"done:{n}" }).Append("sum:10:285"), ledger);
    }

    [Fact]
    public async Task Chunks_split_the_calls_into_maps_of_the_given_size_and_join_their_results_in_order()
    {
        string run = NewRun();
        TaskGroup<long[]> chunks = Workflow.Chunks(Enumerable.Range(0, 25).Select(n => Flows.SquareTask.Sig(run, n, (n * 7) % 5)), 10);
        Assert.Equal(3, chunks.Count);

        GroupHandle<long[]> handle = await chunks.DelayAsync(Client);
        long[][] parts = await handle.GetAsync(Timeout);
        Assert.Equal([10, 10, 5], parts.Select(p => p.Length));
        Assert.Equal(Enumerable.Range(0, 25).Select(n => (long)n * n), await handle.JoinAsync(Timeout));
        Assert.Equal(25, (await Ledger.ReadAsync(run)).Count(e => e.StartsWith("done:", StringComparison.Ordinal)));

        // Re-created from its id by another client: the chunks' group, and one chunk's handle.
        ITaskClient second = await SecondClientAsync();
        GroupHandle<long[]> opened = await Workflow.OpenGroupAsync(second, handle.Id, Workflow.ResultsOf(Flows.SquareTask.Handle));
        Assert.Equal(Enumerable.Range(0, 25).Select(n => (long)n * n), await opened.JoinAsync(Timeout));
        Assert.Equal(Enumerable.Range(20, 5).Select(n => (long)n * n), await Workflow.ResultsOf(Flows.SquareTask.Handle)(second, handle.Members[2].Id, null).GetAsync(Timeout));
    }

    [Fact]
    public async Task Chunks_with_a_callback_are_a_chord_over_the_chunks()
    {
        string run = NewRun();
        TaskHandle<long> total = await Workflow.Chunks(Enumerable.Range(1, 7).Select(n => Flows.SquareTask.Sig(run, n, 0)), 3).Then(Flows.SumNestedTask.Then(run)).DelayAsync(Client);
        Assert.Equal(140, await total.GetAsync(Timeout));
        Assert.Equal(["nested:3:140"], (await Ledger.ReadAsync(run)).Where(e => e.StartsWith("nested:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_map_whose_call_fails_fails_with_that_calls_error()
    {
        string run = NewRun();
        TaskHandle<long[]> map = await Workflow.Chain(Workflow.Map([Flows.SquareTask.Sig(run, 1, 0), Flows.BrokenTask.Sig(run, 2), Flows.SquareTask.Sig(run, 3, 0)])).DelayAsync(Client);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => map.GetAsync(Timeout));
        Assert.Contains("member 2 is broken", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("start:3", await Ledger.ReadAsync(run));
    }

    [Fact]
    public void A_map_refuses_calls_routed_to_different_queues()
    {
        ArgumentException refused = Assert.Throws<ArgumentException>(() => Workflow.Map([Flows.SquareTask.Sig("r", 1, 0), Flows.SquareTask.Sig("r", 2, 0).WithQueue("default")]));
        Assert.Contains("share one queue", refused.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => Workflow.Map(Array.Empty<TaskSignature<long>>()));
        Assert.Throws<ArgumentOutOfRangeException>(() => Workflow.Chunks([Flows.SquareTask.Sig("r", 1, 0)], 0));
    }

    [Fact]
    public async Task A_batch_of_different_tasks_runs_OnSuccess_and_OnComplete_once_each_after_every_member()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch()
            .Add(Flows.SquareTask.Sig(run, 3, 30))
            .Add(Flows.StepTask.Sig(4, run, "s", 0))
            .Add(Flows.AlertTask.Sig("hello", run))
            .Add(Flows.SquareTask.Sig(run, 5, 0))
            .OnSuccess(Batches.CalledTask.Then(run, "success"))
            .OnComplete(Batches.CalledTask.Then(run, "complete"))
            .DelayAsync(Client);

        BatchStatus done = await batch.WaitAsync(Timeout);
        Output.WriteLine(done.ToString());
        Assert.True(done.IsComplete);
        Assert.Equal((4, 0, 4, 0), (done.Total, done.Pending, done.Succeeded, done.Failed));
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Count(e => e.StartsWith("success:", StringComparison.Ordinal) || e.StartsWith("complete:", StringComparison.Ordinal)) == 2, Timeout, "both callbacks to run");
        await Task.Delay(500); // a second callback would run now
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(["success:" + batch.Id], ledger.Where(e => e.StartsWith("success:", StringComparison.Ordinal)));
        Assert.Equal(["complete:" + batch.Id], ledger.Where(e => e.StartsWith("complete:", StringComparison.Ordinal)));
        Assert.True(ledger.ToList().FindIndex(e => e.StartsWith("success:", StringComparison.Ordinal)) > ledger.ToList().IndexOf("done:3"), "the callbacks run after the members");

        BatchStatus read = await Workflow.OpenBatch(await SecondClientAsync(), batch.Id).GetStatusAsync();
        Assert.Equal((4, 0, 4, 0, true), (read.Total, read.Pending, read.Succeeded, read.Failed, read.IsComplete));
    }

    [Fact]
    public async Task A_batch_with_a_failed_member_runs_OnComplete_once_and_never_OnSuccess()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch()
            .Add(Flows.SquareTask.Sig(run, 1, 0))
            .Add(Flows.BrokenTask.Sig(run, 2))
            .Add(Flows.BrokenDeadTask.Sig(run, 3))
            .OnSuccess(Batches.CalledTask.Then(run, "success"))
            .OnComplete(Batches.CalledTask.Then(run, "complete"))
            .DelayAsync(Client);

        BatchStatus done = await batch.WaitAsync(Timeout);
        Assert.Equal((3, 0, 1, 2), (done.Total, done.Pending, done.Succeeded, done.Failed));
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("complete:", StringComparison.Ordinal)), Timeout, "OnComplete to run");
        await Task.Delay(500);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Single(ledger, e => e.StartsWith("complete:", StringComparison.Ordinal));
        Assert.DoesNotContain(ledger, e => e.StartsWith("success:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Members_that_add_tasks_keep_the_batch_open_until_those_tasks_finish()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch()
            .Add(Batches.GrowTask.Sig(run, 1, 3))
            .Add(Batches.GrowTask.Sig(run, 2, 2))
            .Add(Flows.SquareTask.Sig(run, 7, 0))
            .OnSuccess(Batches.CalledTask.Then(run, "success"))
            .DelayAsync(Client);

        BatchStatus done = await batch.WaitAsync(Timeout);
        Output.WriteLine(done.ToString());
        Assert.Equal((8, 0, 8, 0), (done.Total, done.Pending, done.Succeeded, done.Failed)); // 3 members and the 5 they added
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("success:", StringComparison.Ordinal)), Timeout, "OnSuccess to run");
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        int success = ledger.ToList().FindIndex(e => e.StartsWith("success:", StringComparison.Ordinal));
        foreach (string child in new[] { "done:100", "done:101", "done:102", "done:200", "done:201" })
        {
            Assert.True(ledger.ToList().IndexOf(child) is >= 0 and var at && at < success, $"{child} before the callback");
        }
    }

    [Fact]
    public async Task A_batch_wait_times_out_while_a_member_runs_and_a_wait_from_another_client_is_woken_by_the_completion()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch().Add(Flows.SquareTask.Sig(run, 6, 1500)).Add(Flows.SquareTask.Sig(run, 2, 0)).DelayAsync(Client);
        TimeoutException early = await Assert.ThrowsAsync<TimeoutException>(() => batch.WaitAsync(TimeSpan.FromMilliseconds(100)));
        Assert.Contains(batch.Id, early.Message, StringComparison.Ordinal);

        BatchStatus done = await Workflow.OpenBatch(await SecondClientAsync(), batch.Id).WaitAsync(Timeout);
        Assert.Equal((2, 0, 2, 0, true), (done.Total, done.Pending, done.Succeeded, done.Failed, done.IsComplete));
        Assert.Contains("done:6", await Ledger.ReadAsync(run)); // woken by the completion, after the slow member
        Assert.True((await batch.WaitAsync(TimeSpan.Zero)).IsComplete); // complete: answered at once
        await Assert.ThrowsAsync<KeyNotFoundException>(() => Workflow.OpenBatch(Client, "no-such-batch").WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_batch_that_completed_refuses_more_tasks_and_an_unknown_batch_has_no_status()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch().Add(Flows.SquareTask.Sig(run, 1, 0)).DelayAsync(Client);
        await batch.WaitAsync(Timeout);
        await Assert.ThrowsAsync<InvalidOperationException>(() => batch.AddAsync(Flows.SquareTask.Sig(run, 2, 0)));
        await Assert.ThrowsAsync<KeyNotFoundException>(() => Workflow.OpenBatch(Client, "no-such-batch").GetStatusAsync());
        Assert.Null(Workflow.CurrentBatch(Client)); // not inside a task
    }

    [Fact]
    public async Task A_group_of_chains_inside_a_chain_gives_each_chain_the_previous_result_and_the_chain_goes_on_with_their_last_results()
    {
        string run = NewRun();
        // 2 * 10 + 1 = 21; chain 0: (21 + 1) * 10 + 1 = 221; chain 1: (21 + 2) * 10 + 1 + 100 = 331; sum 552; 552 * 10 + 1.
        TaskChainStep<long, long>[] chains =
        [
            Workflow.Chain(Flows.PlusTask.Then(run, 1), Flows.StepTask.Then(run, "0b", 30)),
            Workflow.Chain(Flows.PlusTask.Then(run, 2), Flows.StepTask.Then(run, "1b", 0), Flows.PlusTask.Then(run, 100)),
        ];
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0))
            .Then(Workflow.Group(chains))
            .Then(Flows.SumTask.Then(run))
            .Then(Flows.StepTask.Then(run, "z", 0))
            .DelayAsync(Client);
        Assert.Equal(5521, await last.GetAsync(Timeout));
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Output.WriteLine($"ledger [{string.Join(", ", ledger)}]");
        Assert.Equal(["sum:2:552"], ledger.Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        Assert.Equal(["plus:1", "plus:100", "plus:2"], ledger.Where(e => e.StartsWith("plus:", StringComparison.Ordinal)).Order(StringComparer.Ordinal)); // every step once
        List<string> order = [.. ledger];
        Assert.True(order.IndexOf("done:0b") < order.FindIndex(e => e.StartsWith("sum:", StringComparison.Ordinal)), "the sum runs after chain 0's last step");
        Assert.True(order.IndexOf("plus:100") < order.FindIndex(e => e.StartsWith("sum:", StringComparison.Ordinal)), "the sum runs after chain 1's last step");
        Assert.True(order.IndexOf("plus:2") < order.IndexOf("start:1b") && order.IndexOf("done:1b") < order.IndexOf("plus:100"), "a member chain's steps run in order");
    }

    [Fact]
    public async Task A_group_of_chains_that_end_in_groups_inside_a_chain_returns_every_inner_result()
    {
        string run = NewRun();
        // Step(1) = 11; member n: 11 + n, then a group of +10 and +20 over it.
        IEnumerable<TaskChainStep<long, long[]>> chains = Enumerable.Range(1, 2).Select(n => Workflow.Chain(Flows.PlusTask.Then(run, n)).Then(Workflow.Group(Pluses(run, 10, 20))));
        TaskHandle<long[][]> values = await Workflow.Chain(Flows.StepTask.Sig(1, run, "a", 0)).Then(Workflow.Group(chains)).DelayAsync(Client);
        long[][] all = await values.GetAsync(Timeout);
        Assert.Equal(new long[] { 22, 32 }, all[0]);
        Assert.Equal(new long[] { 23, 33 }, all[1]);

        TaskHandle<long> total = await Workflow.Chain(Flows.StepTask.Sig(1, run, "b", 0)).Then(Workflow.Group(chains)).Then(Flows.SumNestedTask.Then(run)).DelayAsync(Client);
        Assert.Equal(110, await total.GetAsync(Timeout));
        Assert.Equal(["nested:2:110"], (await Ledger.ReadAsync(run)).Where(e => e.StartsWith("nested:", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_chord_of_chains_inside_a_chain_runs_its_callback_once_after_every_chains_last_step()
    {
        string run = NewRun();
        // Step(3) = 31; member n: (31 + n) * 10 + 1; sum over n = 1..3: 321 + 331 + 341 = 993; 993 * 10 + 1.
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(3, run, "a", 0))
            .Then(Workflow.Chord(Enumerable.Range(1, 3).Select(n => Workflow.Chain(Flows.PlusTask.Then(run, n), Flows.StepTask.Then(run, $"{n}b", 10 * n))), Flows.SumTask.Then(run)))
            .Then(Flows.StepTask.Then(run, "z", 0))
            .DelayAsync(Client);
        Assert.Equal(9931, await last.GetAsync(Timeout));
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Equal(["sum:3:993"], ledger.Where(e => e.StartsWith("sum:", StringComparison.Ordinal)));
        int sum = ledger.ToList().FindIndex(e => e.StartsWith("sum:", StringComparison.Ordinal));
        Assert.All(new[] { "done:1b", "done:2b", "done:3b" }, done => Assert.InRange(ledger.ToList().IndexOf(done), 0, sum - 1));
    }

    [Fact]
    public async Task A_step_of_a_member_chain_that_fails_fails_the_group_and_the_chain_and_nothing_after_it_runs()
    {
        string run = NewRun();
        TaskChainStep<long, long>[] chains =
        [
            Workflow.Chain(Flows.PlusTask.Then(run, 1), Flows.StepTask.Then(run, "0b", 0)),
            Workflow.Chain(Flows.PlusTask.Then(run, 2), Flows.FailStepTask.Then(run), Flows.StepTask.Then(run, "1c", 0)),
        ];
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0))
            .Then(Workflow.Group(chains))
            .Then(Flows.SumTask.Then(run))
            .DelayAsync(Client);
        TaskFailedException failure = await Assert.ThrowsAsync<TaskFailedException>(() => last.GetAsync(Timeout));
        Output.WriteLine($"{failure.RemoteType}: {failure.RemoteMessage}");
        Assert.Equal(typeof(ArgumentException).FullName, failure.RemoteType);
        Assert.Contains("group member 1", failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains(Flows.FailStepTask.Name, failure.RemoteMessage, StringComparison.Ordinal);
        Assert.Contains("step got 23 and refuses it", failure.RemoteMessage, StringComparison.Ordinal);
        await Task.Delay(500); // a step or a callback sent by mistake would run now
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.DoesNotContain("start:1c", ledger);
        Assert.DoesNotContain(ledger, e => e.StartsWith("sum:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Revoking_a_chain_with_a_group_of_chains_revokes_every_step_of_every_member_chain()
    {
        string run = NewRun();
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 300))
            .Then(Workflow.Group(Enumerable.Range(1, 2).Select(n => Workflow.Chain(Flows.PlusTask.Then(run, n), Flows.PlusTask.Then(run, 10 * n)))))
            .Then(Flows.SumTask.Then(run))
            .DelayAsync(Client);
        int revoked = await Workflow.RevokeAsync(Client, last.Id);
        Assert.Equal(7, revoked); // the first step, the group step, the member chains' four steps, the sum

        Exception ended = await Assert.ThrowsAnyAsync<Exception>(() => last.GetAsync(Timeout));
        Output.WriteLine($"{ended.GetType().Name}: {ended.Message}");
        Assert.True(ended is TaskFailedException or TaskRevokedException, ended.ToString());
        await Task.Delay(500);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.DoesNotContain(ledger, e => e.StartsWith("plus:", StringComparison.Ordinal) || e.StartsWith("sum:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chain_that_continues_with_a_chain_of_steps_is_one_longer_chain()
    {
        string run = NewRun();
        TaskChainStep<long, long> rest = Workflow.Chain(Flows.StepTask.Then(run, "b", 0), Flows.PlusTask.Then(run, 5));
        TaskHandle<long> last = await Workflow.Chain(Flows.StepTask.Sig(1, run, "a", 0)).Then(rest).DelayAsync(Client);
        Assert.Equal(116, await last.GetAsync(Timeout)); // (11 * 10 + 1) + 5
        Assert.Equal(2, rest.Count);
    }

    [Fact]
    public async Task A_batch_of_a_chain_a_group_a_chord_and_a_chain_into_a_group_counts_each_when_its_last_task_is_done()
    {
        string run = NewRun();
        TaskBatch batch = Workflow.Batch()
            .Add(Workflow.Chain(Flows.StepTask.Sig(1, run, "c1", 0), Flows.StepTask.Then(run, "c2", 300)))
            .Add(Workflow.Group([Flows.SquareTask.Sig(run, 5, 0), Flows.SquareTask.Sig(run, 6, 0)]))
            .Add(Workflow.Chord([Flows.SquareTask.Sig(run, 7, 0), Flows.SquareTask.Sig(run, 8, 200)], Flows.SumTask.Then(run)))
            .Add(Workflow.Chain(Flows.StepTask.Sig(2, run, "g", 0)).Then(Workflow.Group(Pluses(run, 1, 2))))
            .OnSuccess(Batches.CalledTask.Then(run, "success"))
            .OnComplete(Batches.CalledTask.Then(run, "complete"));
        Assert.Equal(5, batch.Count); // the chain, the group's two members, the chord, the chain into a group
        BatchHandle handle = await batch.DelayAsync(Client);

        BatchStatus done = await handle.WaitAsync(Timeout);
        Output.WriteLine(done.ToString());
        Assert.Equal((5, 0, 5, 0), (done.Total, done.Pending, done.Succeeded, done.Failed));
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Count(e => e.StartsWith("success:", StringComparison.Ordinal) || e.StartsWith("complete:", StringComparison.Ordinal)) == 2, Timeout, "both callbacks to run");
        await Task.Delay(500); // a second callback would run now
        List<string> ledger = [.. await Ledger.ReadAsync(run)];
        Output.WriteLine($"ledger [{string.Join(", ", ledger)}]");
        Assert.Equal(["success:" + handle.Id], ledger.Where(e => e.StartsWith("success:", StringComparison.Ordinal)));
        Assert.Equal(["complete:" + handle.Id], ledger.Where(e => e.StartsWith("complete:", StringComparison.Ordinal)));
        int first = Math.Min(ledger.FindIndex(e => e.StartsWith("success:", StringComparison.Ordinal)), ledger.FindIndex(e => e.StartsWith("complete:", StringComparison.Ordinal)));
        foreach (string last in new[] { "done:c2", "done:5", "done:6", "sum:2:113", "plus:1", "plus:2" })
        {
            Assert.True(ledger.IndexOf(last) is >= 0 and var at && at < first, $"{last} before the callbacks");
        }
    }

    [Fact]
    public async Task A_batch_whose_chain_fails_midway_and_whose_chord_fails_counts_both_failed_once_they_end()
    {
        string run = NewRun();
        BatchHandle handle = await Workflow.Batch()
            .Add(Workflow.Chain(Flows.StepTask.Sig(2, run, "a", 0), Flows.FailStepTask.Then(run), Flows.StepTask.Then(run, "never", 0)))
            .Add(Workflow.Chord([Flows.SquareTask.Sig(run, 1, 0), Flows.BrokenTask.Sig(run, 2)], Flows.SumTask.Then(run)))
            .Add(Flows.SquareTask.Sig(run, 3, 0))
            .OnSuccess(Batches.CalledTask.Then(run, "success"))
            .OnComplete(Batches.CalledTask.Then(run, "complete"))
            .DelayAsync(Client);

        BatchStatus done = await handle.WaitAsync(Timeout);
        Output.WriteLine(done.ToString());
        Assert.Equal((3, 0, 1, 2), (done.Total, done.Pending, done.Succeeded, done.Failed));
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("complete:", StringComparison.Ordinal)), Timeout, "OnComplete to run");
        await Task.Delay(500);
        IReadOnlyList<string> ledger = await Ledger.ReadAsync(run);
        Assert.Single(ledger, e => e.StartsWith("complete:", StringComparison.Ordinal));
        Assert.DoesNotContain(ledger, e => e.StartsWith("success:", StringComparison.Ordinal) || e.StartsWith("sum:", StringComparison.Ordinal));
        Assert.DoesNotContain("start:never", ledger);
    }

    [Fact]
    public async Task A_batchs_chain_through_a_group_of_chains_is_counted_once_the_step_after_the_group_is_done()
    {
        string run = NewRun();
        // Step(1) = 11; member chain 0: (11 + 1) * 10 + 1 = 121 (slow); member chain 1: 11 + 2 = 13; the sum 134 ends the chain.
        TaskChain<long> chain = Workflow.Chain(Flows.StepTask.Sig(1, run, "a", 0))
            .Then(Workflow.Group([Workflow.Chain(Flows.PlusTask.Then(run, 1), Flows.StepTask.Then(run, "m0", 300)), Workflow.Chain(Flows.PlusTask.Then(run, 2))]))
            .Then(Flows.SumTask.Then(run));
        BatchHandle handle = await Workflow.Batch().Add(chain).OnSuccess(Batches.CalledTask.Then(run, "success")).DelayAsync(Client);

        BatchStatus done = await handle.WaitAsync(Timeout);
        Assert.Equal((1, 0, 1, 0), (done.Total, done.Pending, done.Succeeded, done.Failed));
        await Wait.UntilAsync(async () => (await Ledger.ReadAsync(run)).Any(e => e.StartsWith("success:", StringComparison.Ordinal)), Timeout, "OnSuccess to run");
        List<string> ledger = [.. await Ledger.ReadAsync(run)];
        Output.WriteLine($"ledger [{string.Join(", ", ledger)}]");
        Assert.True(ledger.IndexOf("sum:2:134") is >= 0 and var sum && sum < ledger.FindIndex(e => e.StartsWith("success:", StringComparison.Ordinal)), "the batch completes after the chain's last step");
    }

    [Fact]
    public async Task A_chain_added_to_an_open_batch_keeps_it_open_until_its_last_step_is_done()
    {
        string run = NewRun();
        BatchHandle batch = await Workflow.Batch().Add(Flows.SquareTask.Sig(run, 9, 1000)).DelayAsync(Client);
        TaskHandle<long> added = await batch.AddAsync(Workflow.Chain(Flows.StepTask.Sig(3, run, "late1", 0), Flows.StepTask.Then(run, "late2", 1500)));

        BatchStatus done = await batch.WaitAsync(Timeout);
        Assert.Equal((2, 0, 2, 0), (done.Total, done.Pending, done.Succeeded, done.Failed));
        Assert.Contains("done:late2", await Ledger.ReadAsync(run)); // complete only after the chain's last step
        Assert.Equal(311, await added.GetAsync(Timeout));
    }
}

/// <summary>The workflow contract on Redis.</summary>
public sealed class WorkflowTests(ITestOutputHelper output) : WorkflowContract(output)
{
    protected override string? Redis => RedisFixture.Configuration;

    public override async Task InitializeAsync()
    {
        _ = await RedisFixture.GetAsync();
        await base.InitializeAsync();
    }
}

/// <summary>The workflow contract with the in-process broker (no Redis).</summary>
public sealed class InProcessWorkflowUnitTests(ITestOutputHelper output) : WorkflowContract(output)
{
    protected override string? Redis => null;

    /// <summary>The in-process broker lives in one process: another client of it is the host's own.</summary>
    protected override Task<ITaskClient> SecondClientAsync() => Task.FromResult(Client);
}
