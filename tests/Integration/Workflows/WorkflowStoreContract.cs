using Celeriac.Brokers;
using Celeriac.Brokers.InMemory;
using Celeriac.IntegrationTests.Infrastructure;
using Celeriac.Redis;
using Celeriac.Workflows;
using Microsoft.Extensions.Logging.Abstractions;

namespace Celeriac.IntegrationTests.Workflows;

/// <summary>
/// The workflow role of a broker (<see cref="IWorkflowStore"/>): each step repeats safely, which is what makes a
/// follow-up carried out twice (by its worker and by a sweep, or after a redelivery) count once. Run on Redis and in process.
/// </summary>
public abstract class WorkflowStoreContract : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(10);

    private protected ITaskBroker Broker { get; private set; } = null!;

    private IWorkflowStore Store => (IWorkflowStore)Broker;

    private protected abstract Task<ITaskBroker> CreateBrokerAsync();

    public async Task InitializeAsync() => Broker = await CreateBrokerAsync();

    public async Task DisposeAsync() => await Broker.DisposeAsync();

    private static FlowStep Callback(string id) => new(id, "cb", "default", 0, null, null, 1, default);

    private async Task<string> NewGroupAsync(int total)
    {
        string group = Broker.NewTaskId();
        var spec = new GroupSpec(total, Callback(Broker.NewTaskId()), default, null, group, null, "final", "default", "cb");
        await Store.CreateGroupAsync(group, total, FlowCodec.EncodeSpec(spec), Ttl, onlyIfAbsent: false, CancellationToken.None);
        return group;
    }

    private Task<JoinReply> JoinAsync(string group, int index, bool success, byte[] value)
        => Store.JoinAsync(group, [new JoinItem(index, success, value)], Ttl, CancellationToken.None);

    [Fact]
    public async Task Members_counted_in_one_call_count_each_index_once()
    {
        string group = await NewGroupAsync(3);
        JoinItem[] members = [new(2, true, new byte[] { 0x02 }), new(0, true, new byte[] { 0x00 }), new(2, true, new byte[] { 0x7f }), new(1, true, new byte[] { 0x01 })];
        JoinReply done = await Store.JoinAsync(group, members, Ttl, CancellationToken.None);
        Assert.Equal(JoinState.Done, done.State);
        Assert.Equal([0x00, 0x01, 0x02], done.Values.Select(v => v.Span[0]));
    }

    [Fact]
    public async Task A_member_counted_twice_is_counted_once_and_the_chord_is_done_only_with_the_last_one()
    {
        string group = await NewGroupAsync(3);
        Assert.Equal(JoinState.Open, (await JoinAsync(group, 1, true, [0x01])).State);
        Assert.Equal(JoinState.Open, (await JoinAsync(group, 1, true, [0x01])).State); // a repeat
        Assert.Equal(JoinState.Open, (await JoinAsync(group, 0, true, [0x00])).State);
        JoinReply done = await JoinAsync(group, 2, true, [0x02]);
        Assert.Equal(JoinState.Done, done.State);
        Assert.Equal([0x00, 0x01, 0x02], done.Values.Select(v => v.Span[0]));

        // A repeat after the end (a sweep re-forwarding a join) answers the same, first value kept: the send-once of the
        // callback's id turns it into nothing.
        JoinReply again = await JoinAsync(group, 2, true, [0x7f]);
        Assert.Equal(JoinState.Done, again.State);
        Assert.Equal([0x00, 0x01, 0x02], again.Values.Select(v => v.Span[0]));
    }

    [Fact]
    public async Task The_first_failure_fails_the_chord_and_later_outcomes_do_not_change_that()
    {
        string group = await NewGroupAsync(3);
        byte[] error = FlowCodec.EncodeMemberError("m1", "task", new TaskError("E", "boom", null));
        JoinReply failed = await JoinAsync(group, 1, false, error);
        Assert.Equal(JoinState.Failed, failed.State);
        Assert.Equal(1, failed.FailedIndex);
        Assert.Equal("boom", FlowCodec.DecodeMemberError(failed.FailedError).Message);
        Assert.Equal(JoinState.Failed, (await JoinAsync(group, 0, true, [0x00])).State);
        JoinReply last = await JoinAsync(group, 2, false, FlowCodec.EncodeMemberError("m2", "task", new TaskError("E", "later", null)));
        Assert.Equal(JoinState.Failed, last.State);
        Assert.Equal(1, last.FailedIndex);
    }

    [Fact]
    public async Task A_join_for_a_group_with_no_state_is_gone()
        => Assert.Equal(JoinState.Gone, (await JoinAsync(Broker.NewTaskId(), 0, true, [0x01])).State);

    [Fact]
    public async Task A_step_is_sent_once_however_often_its_send_is_repeated_also_after_it_ran()
    {
        string id = Broker.NewTaskId();
        var item = new EnqueueItem(id, "default", new byte[] { 0x90 }, 0);
        Assert.True(await Store.EnqueueOnceAsync(item, CancellationToken.None));
        Assert.False(await Store.EnqueueOnceAsync(item, CancellationToken.None));
        Assert.Equal(1, await Broker.GetQueueLengthAsync("default", CancellationToken.None));

        // It runs and completes: a late repeat (a sweep of an old follow-up) finds its result and sends nothing.
        var deliveries = new List<Delivery>();
        Assert.Equal(1, await Broker.FetchAsync(new FetchRequest(["default"], 1, TimeSpan.FromSeconds(30), TimeSpan.Zero, "w"), deliveries, CancellationToken.None));
        var completed = new int[1];
        await Broker.CompleteManyAsync([CompleteItem.Success(deliveries[0], new byte[] { 0x01 }, "t", 0, DateTimeOffset.UtcNow, "w")], Ttl, completed, CancellationToken.None);
        Assert.Equal(1, completed[0]);
        Assert.False(await Store.EnqueueOnceAsync(item, CancellationToken.None));
        Assert.Equal(0, await Broker.GetQueueLengthAsync("default", CancellationToken.None));
    }

    [Fact]
    public async Task A_failure_is_recorded_once_and_never_over_a_final_result()
    {
        string id = Broker.NewTaskId();
        var first = new TaskResult { State = TaskState.Failure, Error = new TaskError("E", "first", null), TaskName = "t" };
        Assert.True(await Store.RecordOnceAsync("default", id, first, null, Ttl, CancellationToken.None));
        Assert.False(await Store.RecordOnceAsync("default", id, new TaskResult { State = TaskState.Failure, Error = new TaskError("E", "second", null), TaskName = "t" }, null, Ttl, CancellationToken.None));
        Assert.Equal("first", (await Broker.GetResultAsync(id, "default", CancellationToken.None)).Error?.Message);
    }

    [Fact]
    public async Task A_completion_with_follow_ups_is_fenced_and_keeps_them_until_they_are_removed()
    {
        string id = Broker.NewTaskId();
        await Broker.EnqueueAsync([new EnqueueItem(id, "default", new byte[] { 0x90 }, 0)], CancellationToken.None);
        var deliveries = new List<Delivery>();
        await Broker.FetchAsync(new FetchRequest(["default"], 1, TimeSpan.FromSeconds(30), TimeSpan.Zero, "w"), deliveries, CancellationToken.None);
        Delivery held = deliveries[0];
        Delivery stale = held.CopyLease();
        stale.LeaseToken = "someone-else";
        FollowUp[] followUps = [new("e:next", new byte[] { 1, 2, 3 })];
        CompleteItem Item(Delivery d) => CompleteItem.Success(d, new byte[] { 0x01 }, "t", 0, DateTimeOffset.UtcNow, "w");

        var completed = new int[2];
        await Store.CompleteWithFollowUpsAsync([new FlowCompletion(Item(stale), followUps)], Ttl, completed, CancellationToken.None);
        Assert.Equal(0, completed[0]);
        Assert.Empty(await Store.ClaimStaleFollowUpsAsync("default", DateTimeOffset.UtcNow.AddMinutes(1), 10, CancellationToken.None));
        await Store.CompleteWithFollowUpsAsync([new FlowCompletion(Item(held), followUps)], Ttl, completed, CancellationToken.None);
        Assert.Equal(1, completed[0]);
        Assert.Equal(TaskState.Success, (await Broker.GetResultAsync(id, "default", CancellationToken.None)).State);

        // Not yet stale: a sweep with an earlier cut-off leaves it to its worker.
        Assert.Empty(await Store.ClaimStaleFollowUpsAsync("default", DateTimeOffset.UtcNow.AddMinutes(-1), 10, CancellationToken.None));
        FollowUp claimed = Assert.Single(await Store.ClaimStaleFollowUpsAsync("default", DateTimeOffset.UtcNow.AddMinutes(1), 10, CancellationToken.None));
        Assert.Equal("e:next", claimed.Key);
        Assert.Equal([1, 2, 3], claimed.Payload.ToArray());
        await Store.RemoveFollowUpsAsync("default", ["e:next"], CancellationToken.None);
        Assert.Empty(await Store.ClaimStaleFollowUpsAsync("default", DateTimeOffset.UtcNow.AddMinutes(1), 10, CancellationToken.None));
    }

    [Fact]
    public async Task A_batch_counts_each_member_once_and_completes_once_with_nothing_pending()
    {
        string batch = Broker.NewTaskId();
        await Store.CreateBatchAsync(batch, ["a", "b"], FlowCodec.EncodeBatchSpec(new BatchSpec(null, Callback("cb"), batch)), Ttl, CancellationToken.None);
        Assert.True(await Store.AddToBatchAsync(batch, ["c", "a"], Ttl, CancellationToken.None)); // "a" is already a member
        (BatchStatus? status, _) = await Store.JoinBatchAsync(batch, [("a", true), ("a", true), ("b", false)], Ttl, CancellationToken.None);
        Assert.Equal((3, 1, 1, 1, false), (status!.Total, status.Pending, status.Succeeded, status.Failed, status.IsComplete));

        // A member that finishes before its adder counted it is counted by its outcome; the adder's count changes nothing.
        (status, _) = await Store.JoinBatchAsync(batch, [("d", true)], Ttl, CancellationToken.None);
        Assert.Equal((4, 1, 2, 1, false), (status!.Total, status.Pending, status.Succeeded, status.Failed, status.IsComplete));
        Assert.True(await Store.AddToBatchAsync(batch, ["d"], Ttl, CancellationToken.None));

        (status, ReadOnlyMemory<byte> spec) = await Store.JoinBatchAsync(batch, [("c", true)], Ttl, CancellationToken.None);
        Assert.Equal((4, 0, 3, 1, true), (status!.Total, status.Pending, status.Succeeded, status.Failed, status.IsComplete));
        Assert.Equal("cb", FlowCodec.DecodeBatchSpec(spec).OnComplete!.Id);

        // Complete: a repeat changes nothing, an unknown id is not counted, nothing can be added.
        (status, _) = await Store.JoinBatchAsync(batch, [("c", true), ("late", true)], Ttl, CancellationToken.None);
        Assert.Equal((4, 0, 3, 1, true), (status!.Total, status.Pending, status.Succeeded, status.Failed, status.IsComplete));
        Assert.False(await Store.AddToBatchAsync(batch, ["e"], Ttl, CancellationToken.None));
        BatchStatus read = (await Store.ReadBatchAsync(batch, CancellationToken.None))!;
        Assert.Equal((4, 0, 3, 1, true), (read.Total, read.Pending, read.Succeeded, read.Failed, read.IsComplete));
        Assert.Null(await Store.ReadBatchAsync("no-such-batch", CancellationToken.None));
    }

    [Fact]
    public async Task A_group_state_created_only_if_absent_keeps_its_counts()
    {
        string group = await NewGroupAsync(2);
        Assert.Equal(JoinState.Open, (await JoinAsync(group, 0, true, [0x00])).State);
        var spec = new GroupSpec(2, Callback("other"), default, null, group, null, "final", "default", "cb");
        await Store.CreateGroupAsync(group, 2, FlowCodec.EncodeSpec(spec), Ttl, onlyIfAbsent: true, CancellationToken.None); // a repeated fan-out
        JoinReply done = await JoinAsync(group, 1, true, [0x01]);
        Assert.Equal(JoinState.Done, done.State);
        Assert.NotEqual("other", FlowCodec.DecodeSpec(done.Spec).Callback.Id);
    }
}

/// <summary>The workflow role of the Redis broker.</summary>
public sealed class RedisWorkflowStoreTests : WorkflowStoreContract
{
    private protected override async Task<ITaskBroker> CreateBrokerAsync()
    {
        _ = await RedisFixture.GetAsync();
        return await RedisBroker.ConnectAsync(new CeleriacOptions { Redis = RedisFixture.Configuration, KeyPrefix = RedisFixture.NewPrefix() }, NullLogger.Instance, TimeProvider.System, CancellationToken.None);
    }
}

/// <summary>The workflow role of the in-process broker.</summary>
public sealed class InProcessWorkflowStoreUnitTests : WorkflowStoreContract
{
    private protected override Task<ITaskBroker> CreateBrokerAsync() => Task.FromResult<ITaskBroker>(new InMemoryBroker(TimeProvider.System));
}
