using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="Celeriac.CeleriacMiddleware"/> (docs/observability.md, "Middleware").</summary>
public static class CeleriacMiddlewareExtensions
{
    /// <summary>
    /// Adds middleware of type <typeparamref name="T"/> (a singleton made by the container) to the client's sends and the
    /// worker's runs. Middleware is called in the order it was added ("before" hooks) and in reverse ("after" hooks);
    /// adding the same type twice adds it once.
    /// </summary>
    /// <typeparam name="T">The middleware type.</typeparam>
    /// <param name="builder">The Celeriac builder.</param>
    /// <returns>The builder.</returns>
    public static CeleriacBuilder AddMiddleware<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(this CeleriacBuilder builder)
        where T : Celeriac.CeleriacMiddleware
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<Celeriac.CeleriacMiddleware, T>());
        return builder;
    }

    /// <summary>Adds <paramref name="middleware"/> (an instance of your own) to the client's sends and the worker's runs, after the middleware added before it.</summary>
    /// <param name="builder">The Celeriac builder.</param>
    /// <param name="middleware">The middleware.</param>
    /// <returns>The builder.</returns>
    public static CeleriacBuilder AddMiddleware(this CeleriacBuilder builder, Celeriac.CeleriacMiddleware middleware)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(middleware);
        builder.Services.AddSingleton(middleware);
        return builder;
    }
}
