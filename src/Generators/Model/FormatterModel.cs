using Celeriac.Generators.Helpers;

namespace Celeriac.Generators.Model;

internal enum FormatterKind
{
    Enum,
    Object,
}

/// <summary>
/// A formatter to generate into the resolver for one user type. Immutable, with structural equality; two tasks that
/// reach the same type produce equal models, which the assembly step de-duplicates.
/// </summary>
/// <param name="TypeFqn">The type as written in <c>typeof</c> (no nullable annotation).</param>
/// <param name="FormattedType">The formatter's <c>T</c> (annotated for reference types).</param>
/// <param name="FormatterName">The nested class name, injective in <see cref="TypeFqn"/>.</param>
/// <param name="IsPublic">Whether the type is visible outside its assembly (public formatter) or not (internal).</param>
/// <param name="EnumUnderlyingType">For enums, the C# keyword of the underlying type.</param>
/// <param name="EnumRead">For enums, the reader method of the underlying type.</param>
/// <param name="Members">For objects, the serialized members in wire order.</param>
/// <param name="ConstructorMembers">For objects, member names passed to the constructor, in parameter order.</param>
/// <param name="EnumValues">For enums, the distinct defined values as C# literals of the underlying type.</param>
/// <param name="EnumIsFlags">For enums, whether the type is <c>[Flags]</c> (any combination of defined bits is valid).</param>
internal sealed record FormatterModel(
    string TypeFqn,
    string FormattedType,
    string FormatterName,
    bool IsPublic,
    FormatterKind Kind,
    bool IsValueType,
    string? EnumUnderlyingType,
    string? EnumRead,
    EquatableArray<MemberModel> Members,
    EquatableArray<string> ConstructorMembers,
    EquatableArray<string> EnumValues = default,
    bool EnumIsFlags = false);

/// <summary>A serialized member. Immutable, with structural equality.</summary>
/// <param name="Name">The member name as written in C# (escaped with '@' when a keyword).</param>
/// <param name="LocalName">A generated local that cannot collide (<c>__celeriac_Name</c>).</param>
/// <param name="Type">How the member's value is written and read.</param>
/// <param name="InConstructor">Set by the constructor; otherwise set by an object initializer.</param>
internal sealed record MemberModel(string Name, string LocalName, TypeRefModel Type, bool InConstructor);

/// <summary>A <c>Lookup</c> entry of the resolver: a type and the expression creating its formatter. Immutable, with structural equality.</summary>
internal sealed record LookupEntryModel(string TypeFqn, string FormatterExpression);
