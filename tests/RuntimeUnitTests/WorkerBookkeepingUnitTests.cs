using System.Text;
using Celeriac.Brokers;
using Celeriac.Worker;

namespace Celeriac.RuntimeUnitTests;

/// <summary>
/// The worker's allocation-free bookkeeping: reused deliveries, the held set that hands out only copies, revocations
/// matched by the id's bytes, and the dispatch that wakes exactly one waiting consumer.
/// </summary>
public sealed class WorkerBookkeepingUnitTests
{
    private static Delivery Leased(DeliveryPool pool, string id, string token)
    {
        Delivery delivery = pool.Rent();
        delivery.IdUtf8 = Encoding.UTF8.GetBytes(id);
        delivery.LeaseTokenUtf8 = Encoding.UTF8.GetBytes(token);
        delivery.Queue = "q";
        delivery.Envelope = new byte[] { 1, 2, 3 };
        delivery.DeliveryCount = 2;
        delivery.RunStarted = true;
        return delivery;
    }

    [Fact]
    public void A_returned_delivery_comes_back_cleared_and_a_foreign_one_is_not_taken()
    {
        var pool = new DeliveryPool();
        Delivery first = Leased(pool, "a", "tok-a");
        Assert.Equal("a", first.Id);
        first.ReplyTo = "reply";
        first.RevokeRequested = true;
        pool.Return(first);

        Delivery again = pool.Rent();
        Assert.Same(first, again);
        Assert.True(again.IdUtf8.IsEmpty);
        Assert.Equal(string.Empty, again.Id);
        Assert.Equal(0, again.DeliveryCount);
        Assert.Null(again.ReplyTo);
        Assert.False(again.RevokeRequested);
        Assert.False(again.RunStarted);
        Assert.Equal(-1, again.HeldSlot);

        var foreign = new Delivery { Id = "x", Queue = "q", Envelope = default, DeliveryCount = 1, LeaseToken = "t" };
        pool.Return(foreign);
        Assert.Equal("x", foreign.Id); // untouched: not the pool's
        Assert.NotSame(foreign, pool.Rent());
    }

    private sealed class CountingOwner : IDisposable
    {
        public int Disposed { get; private set; }

        public void Dispose() => Disposed++;
    }

    [Fact]
    public void A_fetch_buffer_goes_back_once_when_the_last_of_its_deliveries_is_returned()
    {
        var pool = new DeliveryPool();
        var owner = new CountingOwner();
        var shared = new SharedBuffer(owner); // the parser's reference
        Delivery a = Leased(pool, "a", "t");
        Delivery b = Leased(pool, "b", "t");
        shared.AddReference();
        a.Buffer = shared;
        shared.AddReference();
        b.Buffer = shared;
        shared.Release(); // parsing done
        Assert.Equal(0, owner.Disposed);

        pool.Return(a);
        Assert.Null(a.Buffer);
        Assert.Equal(0, owner.Disposed); // b still points into it
        pool.Return(b);
        Assert.Equal(1, owner.Disposed);
        pool.Return(pool.Rent()); // a cleared delivery holds no buffer: nothing released twice
        Assert.Equal(1, owner.Disposed);
    }

    [Fact]
    public void The_held_set_hands_out_copies_and_revokes_by_the_ids_bytes_or_string()
    {
        var pool = new DeliveryPool();
        var held = new HeldSet(1); // grows past its first size
        Delivery a = Leased(pool, "id-a", "tok-a");
        Delivery b = Leased(pool, "id-b", "tok-b");
        var c = new Delivery { Id = "id-c", Queue = "q", Envelope = default, DeliveryCount = 1, LeaseToken = "tok-c" };
        held.Add(a);
        held.Add(b);
        held.Add(c);
        Assert.Equal(3, held.Count);

        var copies = new List<Delivery>();
        held.CopyLeasesTo(copies);
        Assert.Equal(["id-a", "id-b", "id-c"], copies.Select(d => d.Id).Order());
        Assert.Equal(["tok-a", "tok-b", "tok-c"], copies.Select(d => d.LeaseToken).Order());
        Assert.DoesNotContain(copies, d => ReferenceEquals(d, a) || ReferenceEquals(d, b) || ReferenceEquals(d, c));
        Assert.All(copies.Where(d => d.Id != "id-c"), d => Assert.True(d.RunStarted));

        Assert.True(held.TryRevoke("id-b", out RunControl? run, out _));
        Assert.Null(run);
        Assert.True(b.RevokeRequested);
        Assert.False(a.RevokeRequested);
        Assert.True(held.TryRevoke("id-c", out _, out _));
        Assert.True(c.RevokeRequested);

        Assert.True(held.Remove(b));
        Assert.False(held.Remove(b));
        Assert.False(held.TryRevoke("id-b", out _, out _));
        Assert.Equal(2, held.Count);
    }

    [Fact]
    public async Task The_dispatch_hands_each_delivery_to_one_waiting_consumer_then_queues()
    {
        var dispatch = new Dispatch(4, 2);
        var one = new Consumer(CancellationToken.None, TimeProvider.System);
        var two = new Consumer(CancellationToken.None, TimeProvider.System);
        ValueTask<Delivery?> waitOne = dispatch.TakeAsync(one);
        ValueTask<Delivery?> waitTwo = dispatch.TakeAsync(two);
        Assert.Equal(2, dispatch.IdleCount);

        var pool = new DeliveryPool();
        Delivery first = Leased(pool, "1", "t1");
        dispatch.Post(first);
        Assert.Equal(1, dispatch.IdleCount); // one consumer woken, not both
        Delivery? gotTwo = await waitTwo.AsTask().WaitAsync(TimeSpan.FromSeconds(5)); // the last to wait is the first handed work
        Assert.Same(first, gotTwo);
        Assert.False(waitOne.IsCompleted);

        Delivery second = Leased(pool, "2", "t2");
        Delivery third = Leased(pool, "3", "t3");
        dispatch.Post(second);
        dispatch.Post(third);
        Assert.Same(second, await waitOne.AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, dispatch.ReadyCount);

        List<Delivery> unstarted = dispatch.Complete();
        Assert.Equal([third], unstarted);
        Assert.Null(await dispatch.TakeAsync(one));
    }
}
