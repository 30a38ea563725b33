using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Celeriac.Generators.Helpers;
using Celeriac.Generators.Model;
using Microsoft.CodeAnalysis;

namespace Celeriac.Generators.Parsing;

/// <summary>
/// Walks the types reachable from one task's signature and decides, for each, how generated code writes and reads it.
/// Collects the formatters and resolver lookups they need. A visited map makes cyclic type graphs terminate.
/// </summary>
internal sealed class PayloadTypeWalker
{
    internal static readonly SymbolDisplayFormat AnnotatedFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .AddMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    internal static readonly SymbolDisplayFormat PlainFormat = SymbolDisplayFormat.FullyQualifiedFormat;

    private const string FormatterNamespace = "global::MessagePack.Formatters.";

    // Generic BCL collections mapped to MessagePack's own generic formatters, instantiated statically in Lookup.
    internal static readonly Dictionary<string, string> CollectionFormatters = new(StringComparer.Ordinal)
    {
        ["System.Collections.Generic.List`1"] = "ListFormatter",
        ["System.Collections.Generic.IList`1"] = "InterfaceListFormatter2",
        ["System.Collections.Generic.IReadOnlyList`1"] = "InterfaceReadOnlyListFormatter",
        ["System.Collections.Generic.ICollection`1"] = "InterfaceCollectionFormatter2",
        ["System.Collections.Generic.IReadOnlyCollection`1"] = "InterfaceReadOnlyCollectionFormatter",
        ["System.Collections.Generic.IEnumerable`1"] = "InterfaceEnumerableFormatter",
        ["System.Collections.Generic.HashSet`1"] = "HashSetFormatter",
        ["System.Collections.Generic.ISet`1"] = "InterfaceSetFormatter",
        ["System.Collections.Generic.Dictionary`2"] = "DictionaryFormatter",
        ["System.Collections.Generic.IDictionary`2"] = "InterfaceDictionaryFormatter",
        ["System.Collections.Generic.IReadOnlyDictionary`2"] = "InterfaceReadOnlyDictionaryFormatter",
    };

    // Non-primitive types that MessagePack's BuiltinResolver (the last resolver of the chain) formats itself.
    internal static readonly HashSet<string> BuiltinTypes = new(StringComparer.Ordinal)
    {
        "System.Decimal",
        "System.DateTime",
        "System.DateTimeOffset",
        "System.TimeSpan",
        "System.Guid",
        "System.Uri",
        "System.Version",
        "System.Text.StringBuilder",
        "System.Collections.BitArray",
        "System.Numerics.BigInteger",
        "System.Numerics.Complex",
        "System.DateOnly",
        "System.TimeOnly",
        "System.Half",
    };

    private readonly Compilation _compilation;
    private readonly string _resolverFqn;
    private readonly Dictionary<ITypeSymbol, Shape> _shapes = new(SymbolEqualityComparer.Default);
    private readonly List<FormatterModel> _formatters = new();
    private readonly List<LookupEntryModel> _lookups = new();
    private readonly HashSet<string> _lookupKeys = new(StringComparer.Ordinal);

    public PayloadTypeWalker(Compilation compilation, string resolverFqn)
    {
        _compilation = compilation;
        _resolverFqn = resolverFqn;
    }

    public EquatableArray<FormatterModel> Formatters => _formatters.ToEquatableArray();

    public EquatableArray<LookupEntryModel> Lookups => _lookups.ToEquatableArray();

    /// <summary>Describes a use of <paramref name="type"/>, or returns null and says why it cannot be serialized.</summary>
    public TypeRefModel? Describe(ITypeSymbol type, out string? error)
    {
        Shape shape = GetShape(type);
        if (shape.Error is not null)
        {
            error = shape.Error;
            return null;
        }

        error = null;
        return MakeRef(type, shape);
    }

    private static TypeRefModel MakeRef(ITypeSymbol type, Shape shape)
    {
        bool isReference = type.IsReferenceType;
        bool nonNullable = isReference && type.NullableAnnotation == NullableAnnotation.NotAnnotated;

        // Oblivious (nullable-disabled) references are treated as nullable: no null check, no warnings.
        string fqn = isReference && !nonNullable
            ? type.WithNullableAnnotation(NullableAnnotation.Annotated).ToDisplayString(AnnotatedFormat)
            : type.ToDisplayString(AnnotatedFormat);
        string formatterArgument = isReference
            ? type.WithNullableAnnotation(NullableAnnotation.Annotated).ToDisplayString(AnnotatedFormat)
            : fqn;
        return new TypeRefModel(fqn, formatterArgument, nonNullable, shape.Codec, shape.DirectRead, shape.FormatterName);
    }

    private Shape GetShape(ITypeSymbol type)
    {
        if (_shapes.TryGetValue(type, out Shape? known))
        {
            return known;
        }

        Shape shape = Classify(type);
        _shapes[type] = shape;
        return shape;
    }

    private Shape Classify(ITypeSymbol type)
    {
        string display = type.WithNullableAnnotation(NullableAnnotation.None).ToDisplayString();
        if (type.TypeKind == TypeKind.Error)
        {
            return Shape.Fail($"type '{display}' could not be resolved");
        }

        if (DirectRead(type.SpecialType) is { } read)
        {
            return new Shape(CodecKind.Direct, read, null);
        }

        if (type is IArrayTypeSymbol array)
        {
            return ClassifyArray(array, display);
        }

        if (type is not INamedTypeSymbol named)
        {
            return Shape.Fail($"'{display}' is not a supported payload type (pointers, type parameters and dynamic cannot be sent)");
        }

        if (named.OriginalDefinition.SpecialType == SpecialType.System_Nullable_T)
        {
            return ClassifyNullable(named, display);
        }

        string metadataName = MetadataName(named);
        if (BuiltinTypes.Contains(metadataName))
        {
            return new Shape(CodecKind.Resolver, null, null);
        }

        if (named.IsGenericType && CollectionFormatters.TryGetValue(MetadataName(named.OriginalDefinition), out string? formatter))
        {
            return ClassifyCollection(named, formatter, display);
        }

        if (named.TypeKind == TypeKind.Enum)
        {
            return ClassifyEnum(named, display);
        }

        return ClassifyObject(named, display);
    }

    private Shape ClassifyArray(IArrayTypeSymbol array, string display)
    {
        if (!array.IsSZArray)
        {
            return Shape.Fail($"'{display}' is a multi-dimensional array, which is not supported; use an array of arrays");
        }

        Shape element = GetShape(array.ElementType);
        if (element.Error is not null)
        {
            return Shape.Fail($"element type of '{display}': {element.Error}");
        }

        // byte[] is MessagePack bin, and BuiltinResolver has the primitive arrays; everything else uses ArrayFormatter<T>.
        if (array.ElementType.SpecialType is SpecialType.System_Byte or SpecialType.System_Int16 or SpecialType.System_Int32
            or SpecialType.System_Int64 or SpecialType.System_UInt16 or SpecialType.System_UInt32 or SpecialType.System_UInt64
            or SpecialType.System_Single or SpecialType.System_Double or SpecialType.System_Boolean or SpecialType.System_SByte
            or SpecialType.System_DateTime or SpecialType.System_Char or SpecialType.System_String)
        {
            return new Shape(CodecKind.Resolver, null, null);
        }

        AddLookup(array, FormatterNamespace + "ArrayFormatter<" + Plain(array.ElementType) + ">()");
        return new Shape(CodecKind.Resolver, null, null);
    }

    private Shape ClassifyNullable(INamedTypeSymbol nullable, string display)
    {
        ITypeSymbol underlying = nullable.TypeArguments[0];
        Shape inner = GetShape(underlying);
        if (inner.Error is not null)
        {
            return Shape.Fail($"underlying type of '{display}': {inner.Error}");
        }

        if (inner.Codec != CodecKind.Direct || underlying.SpecialType == SpecialType.System_String)
        {
            AddLookup(nullable, FormatterNamespace + "NullableFormatter<" + Plain(underlying) + ">()");
        }

        return new Shape(CodecKind.Resolver, null, null);
    }

    private Shape ClassifyCollection(INamedTypeSymbol collection, string formatter, string display)
    {
        var arguments = new List<string>(collection.TypeArguments.Length);
        foreach (ITypeSymbol argument in collection.TypeArguments)
        {
            Shape inner = GetShape(argument);
            if (inner.Error is not null)
            {
                return Shape.Fail($"type argument of '{display}': {inner.Error}");
            }

            arguments.Add(Plain(argument));
        }

        AddLookup(collection, FormatterNamespace + formatter + "<" + string.Join(", ", arguments) + ">()");
        return new Shape(CodecKind.Resolver, null, null);
    }

    private Shape ClassifyEnum(INamedTypeSymbol type, string display)
    {
        if (!_compilation.IsSymbolAccessibleWithin(type, _compilation.Assembly))
        {
            return Shape.Fail($"type '{display}' is not accessible from the assembly");
        }

        ITypeSymbol? underlying = type.EnumUnderlyingType;
        string? read = underlying is null ? null : DirectRead(underlying.SpecialType);
        if (underlying is null || read is null)
        {
            return Shape.Fail($"enum '{display}' has an unsupported underlying type");
        }

        string formatterName = FormatterName(type);
        var shape = new Shape(CodecKind.UserFormatter, null, formatterName);
        string fqn = Plain(type);
        _formatters.Add(new FormatterModel(
            fqn, fqn, formatterName, IsEffectivelyPublic(type), FormatterKind.Enum, IsValueType: true,
            underlying.ToDisplayString(PlainFormat), read, EquatableArray<MemberModel>.Empty, EquatableArray<string>.Empty,
            EnumValues(type), type.GetAttributes().Any(a => a.AttributeClass?.ToDisplayString() == "System.FlagsAttribute")));
        AddLookup(type, _resolverFqn + "." + formatterName + ".Instance");
        return shape;
    }

    /// <summary>The distinct values an enum defines, as invariant literals, in declaration order.</summary>
    private static EquatableArray<string> EnumValues(INamedTypeSymbol type)
    {
        var values = new List<string>();
        foreach (ISymbol member in type.GetMembers())
        {
            if (member is IFieldSymbol { HasConstantValue: true, ConstantValue: IFormattable value })
            {
                string literal = value.ToString(null, System.Globalization.CultureInfo.InvariantCulture);
                if (!values.Contains(literal))
                {
                    values.Add(literal);
                }
            }
        }

        return values.ToEquatableArray();
    }

    private Shape ClassifyObject(INamedTypeSymbol type, string display)
    {
        if (type.SpecialType == SpecialType.System_Object)
        {
            return Shape.Fail("'object' is not a supported payload type: the wire carries no type names, declare a concrete type");
        }

        string? reason = type switch
        {
            { TypeKind: TypeKind.Interface } => "interfaces cannot be constructed; use a concrete type or one of the supported collection interfaces",
            { TypeKind: TypeKind.Delegate } => "delegates cannot be sent",
            { IsRefLikeType: true } => "ref structs cannot be stored",
            { IsAbstract: true } => "abstract types cannot be constructed; use a concrete type",
            { IsStatic: true } => "static types have no instances",
            { TypeKind: not (TypeKind.Class or TypeKind.Struct) } => "only classes, structs, records and enums are supported",
            _ when type.IsUnboundGenericType || ContainsTypeParameter(type) => "open generic types cannot be sent",
            _ when IsFrameworkType(type) => "framework types other than primitives, well-known value types and collections are not supported",
            _ when !_compilation.IsSymbolAccessibleWithin(type, _compilation.Assembly) => "the type is not accessible from the assembly",
            _ => null,
        };
        if (reason is not null)
        {
            return Shape.Fail($"'{display}' is not a supported payload type: {reason}");
        }

        string formatterName = FormatterName(type);
        var shape = new Shape(CodecKind.UserFormatter, null, formatterName);

        // Registered before the members are walked, so a type that reaches itself terminates.
        _shapes[type] = shape;

        List<Candidate> candidates = CollectMembers(type);
        IMethodSymbol? constructor = ChooseConstructor(type, candidates);
        if (constructor is null)
        {
            shape.Error = $"type '{display}' has no public constructor whose parameters all match its public members by name and type";
            return shape;
        }

        var members = new List<MemberModel>(candidates.Count);
        foreach (Candidate candidate in candidates)
        {
            bool inConstructor = constructor.Parameters.Any(p => string.Equals(p.Name, candidate.Symbol.Name, StringComparison.OrdinalIgnoreCase));
            if (!inConstructor && !candidate.Writable)
            {
                if (candidate.HasStorage)
                {
                    shape.Error = $"member '{candidate.Symbol.Name}' of type '{display}' is read-only and is not a parameter of its public constructor, so it could not be restored";
                    return shape;
                }

                // A computed property: nothing to restore.
                continue;
            }

            Shape memberShape = GetShape(candidate.Type);
            if (memberShape.Error is not null)
            {
                shape.Error = $"member '{candidate.Symbol.Name}' of type '{display}': {memberShape.Error}";
                return shape;
            }

            members.Add(new MemberModel(
                NameHelper.EscapeIdentifier(candidate.Symbol.Name),
                "__celeriac_" + candidate.Symbol.Name,
                MakeRef(candidate.Type, memberShape),
                inConstructor));
        }

        var constructorMembers = new List<string>(constructor.Parameters.Length);
        foreach (IParameterSymbol parameter in constructor.Parameters)
        {
            Candidate match = candidates.First(c => string.Equals(c.Symbol.Name, parameter.Name, StringComparison.OrdinalIgnoreCase));
            constructorMembers.Add(NameHelper.EscapeIdentifier(match.Symbol.Name));
        }

        string fqn = Plain(type);
        string formattedType = type.IsReferenceType
            ? type.WithNullableAnnotation(NullableAnnotation.Annotated).ToDisplayString(AnnotatedFormat)
            : fqn;
        _formatters.Add(new FormatterModel(
            fqn, formattedType, formatterName, IsEffectivelyPublic(type), FormatterKind.Object, type.IsValueType,
            null, null, members.ToEquatableArray(), constructorMembers.ToEquatableArray()));
        AddLookup(type, _resolverFqn + "." + formatterName + ".Instance");
        return shape;
    }

    private static List<Candidate> CollectMembers(INamedTypeSymbol type)
    {
        var chain = new Stack<INamedTypeSymbol>();
        for (INamedTypeSymbol? current = type; current is not null && current.SpecialType is not (SpecialType.System_Object or SpecialType.System_ValueType); current = current.BaseType)
        {
            chain.Push(current);
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        var candidates = new List<Candidate>();
        foreach (INamedTypeSymbol declaring in chain)
        {
            ImmutableArray<ISymbol> declared = declaring.GetMembers();
            foreach (ISymbol member in declared)
            {
                if (member.IsStatic || member.DeclaredAccessibility != Accessibility.Public)
                {
                    continue;
                }

                if (member is IPropertySymbol property)
                {
                    if (property.IsIndexer || property.ReturnsByRef || property.ReturnsByRefReadonly
                        || property.GetMethod is not { DeclaredAccessibility: Accessibility.Public })
                    {
                        continue;
                    }

                    if (!names.Add(property.Name))
                    {
                        continue;
                    }

                    bool writable = property.SetMethod is { DeclaredAccessibility: Accessibility.Public };
                    bool hasStorage = declared.OfType<IFieldSymbol>().Any(f => SymbolEqualityComparer.Default.Equals(f.AssociatedSymbol, property));
                    candidates.Add(new Candidate(property, property.Type, writable, hasStorage));
                }
                else if (member is IFieldSymbol { IsConst: false, IsImplicitlyDeclared: false } field)
                {
                    if (!names.Add(field.Name))
                    {
                        continue;
                    }

                    candidates.Add(new Candidate(field, field.Type, !field.IsReadOnly, HasStorage: true));
                }
            }
        }

        return candidates;
    }

    private static IMethodSymbol? ChooseConstructor(INamedTypeSymbol type, List<Candidate> candidates)
    {
        IMethodSymbol? best = null;
        foreach (IMethodSymbol constructor in type.InstanceConstructors)
        {
            if (constructor.DeclaredAccessibility != Accessibility.Public)
            {
                continue;
            }

            bool matches = constructor.Parameters.All(p =>
                p.RefKind == RefKind.None
                && candidates.Any(c => string.Equals(c.Symbol.Name, p.Name, StringComparison.OrdinalIgnoreCase)
                    && SymbolEqualityComparer.Default.Equals(c.Type, p.Type)));
            if (matches && (best is null || constructor.Parameters.Length > best.Parameters.Length))
            {
                best = constructor;
            }
        }

        return best;
    }

    private void AddLookup(ITypeSymbol type, string expression)
    {
        string key = Plain(type);
        if (_lookupKeys.Add(key))
        {
            _lookups.Add(new LookupEntryModel(key, expression.EndsWith(")", StringComparison.Ordinal) ? "new " + expression : expression));
        }
    }

    private static string Plain(ITypeSymbol type) => type.WithNullableAnnotation(NullableAnnotation.None).ToDisplayString(PlainFormat);

    internal static string FormatterName(ITypeSymbol type) => NameHelper.SanitizeTypeName(Plain(type)) + "Formatter";

    private static string MetadataName(INamedTypeSymbol type)
    {
        string ns = type.ContainingNamespace is { IsGlobalNamespace: false } n ? n.ToDisplayString() + "." : string.Empty;
        return ns + type.MetadataName;
    }

    private static bool IsFrameworkType(INamedTypeSymbol type)
    {
        INamespaceSymbol? ns = type.ContainingNamespace;
        while (ns is { ContainingNamespace.IsGlobalNamespace: false })
        {
            ns = ns.ContainingNamespace;
        }

        return ns is not null && !ns.IsGlobalNamespace && ns.Name is "System" or "Microsoft" or "MessagePack";
    }

    private static bool ContainsTypeParameter(ITypeSymbol type) => type switch
    {
        ITypeParameterSymbol => true,
        IArrayTypeSymbol array => ContainsTypeParameter(array.ElementType),
        INamedTypeSymbol named => named.TypeArguments.Any(ContainsTypeParameter) || (named.ContainingType is { } c && ContainsTypeParameter(c)),
        _ => false,
    };

    internal static bool IsEffectivelyPublic(ITypeSymbol type)
    {
        switch (type)
        {
            case IArrayTypeSymbol array:
                return IsEffectivelyPublic(array.ElementType);
            case INamedTypeSymbol named:
                for (INamedTypeSymbol? current = named; current is not null; current = current.ContainingType)
                {
                    if (current.DeclaredAccessibility != Accessibility.Public)
                    {
                        return false;
                    }
                }

                return named.TypeArguments.All(IsEffectivelyPublic);
            default:
                return true;
        }
    }

    internal static string? DirectRead(SpecialType specialType) => specialType switch
    {
        SpecialType.System_Boolean => "ReadBoolean",
        SpecialType.System_Char => "ReadChar",
        SpecialType.System_SByte => "ReadSByte",
        SpecialType.System_Byte => "ReadByte",
        SpecialType.System_Int16 => "ReadInt16",
        SpecialType.System_UInt16 => "ReadUInt16",
        SpecialType.System_Int32 => "ReadInt32",
        SpecialType.System_UInt32 => "ReadUInt32",
        SpecialType.System_Int64 => "ReadInt64",
        SpecialType.System_UInt64 => "ReadUInt64",
        SpecialType.System_Single => "ReadSingle",
        SpecialType.System_Double => "ReadDouble",
        SpecialType.System_String => "ReadString",
        _ => null,
    };

    private sealed class Shape
    {
        public Shape(CodecKind codec, string? directRead, string? formatterName)
        {
            Codec = codec;
            DirectRead = directRead;
            FormatterName = formatterName;
        }

        public CodecKind Codec { get; }

        public string? DirectRead { get; }

        public string? FormatterName { get; }

        public string? Error { get; set; }

        public static Shape Fail(string error) => new(CodecKind.Resolver, null, null) { Error = error };
    }

    private sealed record Candidate(ISymbol Symbol, ITypeSymbol Type, bool Writable, bool HasStorage);
}
