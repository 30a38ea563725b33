using Celeriac.Brokers;
using Celeriac.Hosting;
using Celeriac.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Celeriac in a service collection.</summary>
public static class CeleriacServiceCollectionExtensions
{
    /// <summary>
    /// Adds the Celeriac client (<see cref="Celeriac.ITaskClient"/>, <see cref="Celeriac.CeleriacClient"/>) and the broker it
    /// talks to. Without <see cref="Celeriac.CeleriacOptions.Redis"/>, the broker is in-process. Options are validated when the host starts.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Sets the options, or <see langword="null"/> for the defaults.</param>
    /// <returns>A builder to add a worker with.</returns>
    public static CeleriacBuilder AddCeleriac(this IServiceCollection services, Action<Celeriac.CeleriacOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        OptionsBuilder<Celeriac.CeleriacOptions> options = services.AddOptions<Celeriac.CeleriacOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return AddCore(services);
    }

    /// <summary>Adds Celeriac with options bound from <paramref name="configuration"/> (for example the <c>Celeriac</c> section).</summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configuration">The configuration section holding <see cref="Celeriac.CeleriacOptions"/>'s properties.</param>
    /// <returns>A builder to add a worker with.</returns>
    public static CeleriacBuilder AddCeleriac(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<Celeriac.CeleriacOptions>().Bind(configuration);
        return AddCore(services);
    }

    private static CeleriacBuilder AddCore(IServiceCollection services)
    {
        services.AddOptions<Celeriac.CeleriacOptions>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<Celeriac.CeleriacOptions>, CeleriacOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(Celeriac.TaskCatalog.Global);
        services.TryAddSingleton(sp => new BrokerProvider(
            sp.GetRequiredService<IOptions<Celeriac.CeleriacOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance));
        services.TryAddSingleton(sp => new Celeriac.Middleware.MiddlewarePipeline(
            sp.GetServices<Celeriac.CeleriacMiddleware>(),
            (sp.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Celeriac.Middleware")));
        services.TryAddSingleton(sp => new Celeriac.Control.EventPublisher(
            sp.GetRequiredService<BrokerProvider>(),
            sp.GetRequiredService<IOptions<Celeriac.CeleriacOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            (sp.GetService<ILoggerFactory>() ?? Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance).CreateLogger("Celeriac.Events")));
        services.TryAddSingleton(sp => new Celeriac.CeleriacClient(
            sp.GetRequiredService<BrokerProvider>(),
            sp.GetRequiredService<IOptions<Celeriac.CeleriacOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            ownsBroker: false,
            sp.GetRequiredService<Celeriac.TaskCatalog>(),
            sp.GetRequiredService<Celeriac.Middleware.MiddlewarePipeline>(),
            sp.GetRequiredService<Celeriac.Control.EventPublisher>()));
        services.TryAddSingleton<Celeriac.ITaskClient>(sp => sp.GetRequiredService<Celeriac.CeleriacClient>());
        return new CeleriacBuilder(services);
    }
}

/// <summary>Adds parts to a Celeriac registration.</summary>
public sealed class CeleriacBuilder
{
    internal CeleriacBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection.</summary>
    public IServiceCollection Services { get; }

    /// <summary>
    /// Adds a worker (a hosted service) that runs the tasks of <see cref="Celeriac.TaskCatalog.Global"/> (every task of
    /// this assembly and of the task assemblies it references) or of the catalog given to <see cref="UseCatalog"/>, and
    /// registers the containing types of that catalog's instance tasks as scoped services.
    /// </summary>
    /// <param name="configure">Sets the worker options, or <see langword="null"/> for the defaults.</param>
    /// <returns>This builder.</returns>
    public CeleriacBuilder AddWorker(Action<Celeriac.WorkerOptions>? configure = null)
    {
        OptionsBuilder<Celeriac.WorkerOptions> options = Services.AddOptions<Celeriac.WorkerOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        return AddWorkerCore();
    }

    /// <summary>Adds a worker with options bound from <paramref name="configuration"/> (for example the <c>Celeriac:Worker</c> section).</summary>
    /// <param name="configuration">The configuration section holding <see cref="Celeriac.WorkerOptions"/>'s properties.</param>
    /// <returns>This builder.</returns>
    public CeleriacBuilder AddWorker(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        Services.AddOptions<Celeriac.WorkerOptions>().Bind(configuration);
        return AddWorkerCore();
    }

    /// <summary>
    /// Adds pool <paramref name="name"/> to the worker (adding the worker if it was not): queues consumed apart from the
    /// worker's own, with a concurrency, prefetch and execution of their own (<see cref="Celeriac.WorkerOptions.Pools"/>;
    /// the same as <c>o.Pools[name] = new WorkerPool { ... }</c> in <see cref="AddWorker(Action{Celeriac.WorkerOptions})"/>).
    /// Called again with the same name, it changes the same pool.
    /// </summary>
    /// <param name="name">The pool's name: its queue when <paramref name="configure"/> lists none, and its name in the worker registry (<c>{worker}/{name}</c>).</param>
    /// <param name="configure">Sets the pool's queues, concurrency, prefetch and execution.</param>
    /// <returns>This builder.</returns>
    public CeleriacBuilder AddPool(string name, Action<Celeriac.WorkerPool> configure)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(configure);
        Services.AddOptions<Celeriac.WorkerOptions>().Configure(o =>
        {
            if (!o.Pools.TryGetValue(name, out Celeriac.WorkerPool? pool))
            {
                o.Pools[name] = pool = new Celeriac.WorkerPool();
            }

            configure(pool);
        });
        return AddWorkerCore();
    }

    /// <summary>
    /// Uses <paramref name="catalog"/> instead of <see cref="Celeriac.TaskCatalog.Global"/> as the worker's set of tasks,
    /// and registers the services its instance tasks need in place of those of the catalog used before (before or after
    /// <see cref="AddWorker(Action{Celeriac.WorkerOptions})"/>).
    /// </summary>
    /// <param name="catalog">The tasks the worker runs.</param>
    /// <returns>This builder.</returns>
    public CeleriacBuilder UseCatalog(Celeriac.TaskCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        Services.Replace(ServiceDescriptor.Singleton(catalog));
        if (FindTaskServices() is { } registered && !ReferenceEquals(registered.Catalog, catalog))
        {
            // A worker was added before: its tasks' services are those of the catalog it had then; swap them.
            foreach (ServiceDescriptor added in registered.Added)
            {
                Services.Remove(added);
            }

            Services.Remove(registered.Descriptor);
            AddTaskServices(catalog);
        }

        return this;
    }

    private CeleriacBuilder AddWorkerCore()
    {
        Services.AddOptions<Celeriac.WorkerOptions>().ValidateOnStart();
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<Celeriac.WorkerOptions>, WorkerOptionsValidator>());
        Services.TryAddSingleton(sp => new Celeriac.WorkerStatus(sp.GetRequiredService<TimeProvider>()));
        Services.TryAddSingleton(sp => Celeriac.Supervision.ProcessRole.For(sp.GetRequiredService<IOptions<Celeriac.WorkerOptions>>().Value));
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, BrokerStartup>());
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, CeleriacWorker>());
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, Celeriac.Scheduling.PeriodicScheduler>());
        Services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, Celeriac.Supervision.SupervisionService>());
        if (FindTaskServices() is null)
        {
            // The worker's catalog: the one UseCatalog set before, else the one AddCeleriac registered (Global).
            Celeriac.TaskCatalog catalog = Services.LastOrDefault(d => d.ServiceType == typeof(Celeriac.TaskCatalog))?.ImplementationInstance as Celeriac.TaskCatalog
                ?? Celeriac.TaskCatalog.Global;
            AddTaskServices(catalog);
        }

        return this;
    }

    /// <summary>Registers the services the tasks of <paramref name="catalog"/> need (instance tasks' types), remembering which were added.</summary>
    private void AddTaskServices(Celeriac.TaskCatalog catalog)
    {
        int before = Services.Count;
        foreach (Celeriac.TaskRegistration task in catalog.Tasks)
        {
            task.ConfigureServices?.Invoke(Services);
        }

        var added = new List<ServiceDescriptor>(Services.Count - before);
        for (int i = before; i < Services.Count; i++)
        {
            added.Add(Services[i]);
        }

        var record = new TaskServices(catalog, added);
        record.Descriptor = ServiceDescriptor.Singleton(record);
        Services.Add(record.Descriptor);
    }

    private TaskServices? FindTaskServices()
        => Services.LastOrDefault(d => d.ServiceType == typeof(TaskServices))?.ImplementationInstance as TaskServices;

    /// <summary>Which catalog's task services were registered, and the registrations that added (so that they can be swapped).</summary>
    private sealed class TaskServices(Celeriac.TaskCatalog catalog, List<ServiceDescriptor> added)
    {
        public Celeriac.TaskCatalog Catalog { get; } = catalog;

        public List<ServiceDescriptor> Added { get; } = added;

        public ServiceDescriptor Descriptor { get; set; } = null!;
    }
}
